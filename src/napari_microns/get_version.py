"""``GetVersion``: download a version's tables, process them and load the units, for the Get data
panel (no napari, no Qt).

:meth:`GetVersion.list_versions` (what the server serves and the folder holds) and
:meth:`GetVersion.run` (download table by table, then ``process``, then the units prepared
for the scene) block and run in a worker thread; they report through plain callbacks. On the
UI thread :meth:`GetVersion.set_versions` and :meth:`GetVersion.finish` record the outcome,
emit ``events`` and hand the prepared units to the :class:`~napari_microns.scene.Scene`.

The download is resumable (finished tables are skipped, finished pages of a table are kept by
the core) and cancellable: ``cancelled()`` is asked before each table and after each page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from psygnal import Signal, SignalGroup

from .core.dataset import DEFAULT_DATASTACK, Dataset
from .core.server_versions import EXPIRED, NOT_ASKED, SERVED, VersionList, versions
from .core.session import DEFAULT_RETRY, RetryPolicy
from .core.units import format_summary


@dataclass(frozen=True)
class Step:
    """Where a run is: ``table`` (index ``index`` of ``n_tables``) with ``rows`` in ``pages``
    so far; ``state``: ``"downloading"``, ``"complete"`` (already on disk), ``"skipped"``
    (optional, the server lacks it), ``"downloaded"``, ``"processing"``, ``"loading"``, ``"loaded"``."""

    state: str
    index: int
    n_tables: int
    table: str = ""
    rows: int = 0
    pages: int = 0

    @property
    def done(self) -> int:
        """Finished steps (tables, then process, then load), for a progress bar."""
        finished = self.state in ("complete", "skipped", "downloaded")
        return self.index + (1 if finished else 0)

    @property
    def total(self) -> int:
        return self.n_tables + 2  # the tables, process, load

    def line(self) -> str:
        if self.state == "processing":
            return "processing the tables into units and layers…"
        if self.state == "loading":
            return "loading the units…"
        if self.state == "loaded":
            return "units read, showing them…"
        what = f"table {self.index + 1} of {self.n_tables}: {self.table}"
        if self.state == "downloading":
            return f"{what}: {self.rows:,} rows in {self.pages} pages…"
        return f"{what}: {self.state}" + (f" ({self.rows:,} rows)" if self.state == "downloaded" else "")


@dataclass
class Outcome:
    """What :meth:`GetVersion.run` ended with: ``cancelled``, or the processed ``summary``
    (and ``prepared`` units for the scene)."""

    version: int
    cancelled: bool = False
    summary: dict = field(default_factory=dict)
    prepared: object = None
    downloaded: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    def summary_text(self) -> str:
        lines = [format_summary(self.summary)] if self.summary else []
        lines += [f"  skipped {t}: {why}" for t, why in self.skipped.items()]
        return "\n".join(lines)


class Cancelled(Exception):
    """Raised from a progress callback to stop a run; :meth:`GetVersion.run` turns it into an outcome."""


class GetVersionEvents(SignalGroup):
    #: the new :class:`VersionList`
    versions_changed = Signal(object)
    #: the :class:`Outcome` of a finished run (processed or cancelled)
    finished = Signal(object)


class GetVersion:
    """Choose a data folder and version, download, process and load it.

    ``client``: a callable returning a CAVE client (tests, notebooks with their own); None
    makes one from the saved token when the network is first needed.
    """

    def __init__(self, scene, client: Callable[[], object] | None = None, datastack: str = DEFAULT_DATASTACK,
                 retry: RetryPolicy = DEFAULT_RETRY):
        self.events = GetVersionEvents()
        self.scene = scene
        self._client = client
        self.datastack = datastack
        self.retry = retry
        self._versions: VersionList | None = None
        self._last: Outcome | None = None

    def use_client(self, client: Callable[[], object] | None) -> None:
        """Use ``client()`` for every server call from now on (None: the saved token's)."""
        self._client = client

    @property
    def versions(self) -> VersionList | None:
        return self._versions

    @property
    def last(self) -> Outcome | None:
        """The last finished run."""
        return self._last

    def choices(self) -> list[tuple[str, int]]:
        """``(label, version)`` to choose from, newest first: the versions the server serves (expired
        ones from their static dumps) and those in the folder, that this project knows the tables
        of; all known ones when the server was not asked. :meth:`describe` says more about one."""
        if self._versions is None:
            return []
        table = self._versions.table
        offline = (table["status"] == NOT_ASKED).all()
        keep = table["known"] & (offline | table["status"].isin([SERVED, EXPIRED]) | (table["on_disk"] != ""))
        out = []
        for r in table[keep].itertuples(index=False):
            where = {SERVED: "served", EXPIRED: "static dump"}.get(r.status, "")
            disk = "processed" if "processed" in r.on_disk else "on disk" if r.on_disk else ""
            out.append((" · ".join(b for b in (str(r.version), where, disk) if b), int(r.version)))
        return out[::-1]  # newest first

    def describe(self, version: int) -> str:
        """One line about ``version`` from the versions table (release, expiry, status, disk), or ""."""
        if self._versions is None:
            return ""
        rows = self._versions.table[self._versions.table["version"] == int(version)]
        if rows.empty:
            return ""
        r = rows.iloc[0]
        bits = [f"released {r.released}" if r.released else "", f"expires {r.expires}" if r.expires else "",
                r.status, r.on_disk]
        return f"version {int(version)}: " + ", ".join(b for b in bits if b)

    # -- in a worker thread -------------------------------------------------------------
    def list_versions(self, datadir: str | Path | None) -> VersionList:
        """The versions table for ``datadir`` (blocking; offline it says why the server was not asked)."""
        client = self._client() if self._client is not None else None
        return versions(datadir or None, client=client, datastack=self.datastack, retry=self.retry)

    def run(self, datadir: str | Path, version: int, on_step: Callable[[Step], None] = lambda s: None,
            cancelled: Callable[[], bool] = lambda: False, color_by: str = "cell_type") -> Outcome:
        """Download every table of ``version`` into ``datadir`` (those complete on disk are
        skipped), process them and prepare the units (blocking). Failures raise a one-line
        :class:`MicronsError`; a cancel returns an outcome with ``cancelled``."""
        from .scene import prepare_units

        client = self._client() if self._client is not None else None
        ds = Dataset(datadir, version=version, datastack=self.datastack, client=client, retry=self.retry)
        tables = ds.tables.annotation_tables()
        outcome = Outcome(int(ds.version))
        try:
            for i, table in enumerate(tables):
                if cancelled():
                    raise Cancelled()
                count = {"rows": 0, "pages": 0}

                def page(_table, rows, i=i, table=table, count=count):
                    count["rows"] += rows
                    count["pages"] += 1
                    on_step(Step("downloading", i, len(tables), table, count["rows"], count["pages"]))
                    if cancelled():
                        raise Cancelled()

                on_step(Step("downloading", i, len(tables), table))
                got = ds.download_tables([table], progress=page)
                outcome.downloaded.update(got)
                outcome.skipped.update(getattr(got, "skipped", {}))
                state = "downloaded" if table in got else "skipped" if table in outcome.skipped else "complete"
                on_step(Step(state, i, len(tables), table, got.get(table, 0), count["pages"]))
        except Cancelled:
            outcome.cancelled = True
            return outcome
        on_step(Step("processing", len(tables), len(tables)))
        outcome.summary = ds.process().summary
        on_step(Step("loading", len(tables) + 1, len(tables)))
        outcome.prepared = prepare_units(ds, color_by)
        on_step(Step("loaded", len(tables) + 2, len(tables)))
        return outcome

    # -- on the UI thread ---------------------------------------------------------------
    def set_versions(self, listed: VersionList) -> None:
        self._versions = listed
        self.events.versions_changed.emit(listed)

    def finish(self, outcome: Outcome) -> None:
        """Record a finished run; a processed one's units go into the scene."""
        self._last = outcome
        if outcome.prepared is not None:
            self.scene.show_prepared(outcome.prepared)
        self.events.finished.emit(outcome)
