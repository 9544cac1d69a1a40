"""Neuroglancer and the scene, both ways, as a model beside :class:`~.scene.Scene`.

Out: :meth:`NeuroglancerScene.link_of` builds a Neuroglancer state of the chosen neurons (in the
scene's colours) and their synapses (``Dataset.neuroglancer_state``); :meth:`set_link` keeps it,
:meth:`save_json` writes it atomically, :meth:`short_link_of` uploads it with the dataset's CAVE
client. In: :meth:`parsed_of` reads a link, state JSON, file or CAVE short link
(:func:`~.core.neuroglancer.parse_neuroglancer`); :meth:`show_parsed` makes its selected segments
the chosen neurons, its point annotations a points layer and its position the camera centre.
Methods named ``*_of`` touch no viewer: run them in a worker thread and hand the result to the
matching method on the UI thread. Each change is announced on :attr:`NeuroglancerScene.events`.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from psygnal import Signal, SignalGroup

from . import layer_data as ld
from .core.errors import DataError
from .cli_neuroglancer import LONG_URL
from .core.layout import atomic_write_bytes
from .scene import Scene, _named, _replace_layer, fetch_source

#: The ``synapses`` choices of a link (None: no synapses) and its groupings.
SYNAPSE_CHOICES = (None, "inputs", "outputs", "both")
GROUP_CHOICES = ("direction", "cell_type")
#: The points layer of a state's point annotations, and its kind (layer metadata).
POINTS_LAYER = "neuroglancer points"
KIND_NEUROGLANCER_POINTS = "neuroglancer_points"
#: Point diameter (µm) of the annotations: about a synapse.
POINT_SIZE_UM = 1.5
_DEFAULT_POINT_COLOR = "#ffd92f"


@dataclass(frozen=True)
class Link:
    """A built state (``NeuroglancerState``), its long ``url``, the neurons it shows, and the
    CAVE ``short`` link once made (else None)."""

    state: object
    url: str
    root_ids: tuple[int, ...]
    short: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        """The link to hand on: the short one once made, else the long one."""
        return self.short or self.url

    def messages(self) -> list[str]:
        """What to know about the link: too long for some tools, what the state leaves out."""
        if self.short is not None:
            return ["short link made: the state is on CAVE's state server"]
        out = list(self.notes)
        if len(self.url) > LONG_URL:
            out.insert(0, f"long link ({len(self.url):,} characters): use Short link or Save JSON")
        return out


@dataclass(frozen=True)
class Opened:
    """What :meth:`NeuroglancerScene.show_parsed` did: the neurons chosen, the points shown and
    where the camera went (pia-aligned µm, or None)."""

    root_ids: tuple[int, ...]
    n_points: int
    position_um: tuple[float, float, float] | None

    def summary(self) -> str:
        n = len(self.root_ids)
        text = f"{n} neuron{'s' * (n != 1)} chosen" if n else "no neurons selected in the state"
        text += f", {self.n_points} point{'s' * (self.n_points != 1)}"
        if self.position_um is not None:
            text += ", camera at ({:.0f}, {:.0f}, {:.0f}) µm".format(*self.position_um)
        return text


def is_short_link(text: str) -> bool:
    """Whether a pasted text is (or points to) a CAVE short link, which needs a CAVE client."""
    text = str(text).strip()
    if text.startswith("{"):
        return False
    return "/nglstate/" in urllib.parse.unquote(text) and "{" not in urllib.parse.unquote(text)


def annotation_colors(state: dict) -> dict[str, str]:
    """``{annotation layer name: colour}`` of a state's annotation layers that name one."""
    out = {}
    for layer in state.get("layers", []) or []:
        if isinstance(layer, dict) and isinstance(layer.get("annotationColor"), str):
            out[str(layer.get("name"))] = layer["annotationColor"]
    return out


def points_layer_data(points: pd.DataFrame, colors: dict[str, str] | None = None) -> ld.LayerData:
    """A state's point annotations (``ParsedState.points``: pia-aligned µm) as napari Points in the
    scene's frame (:func:`~.layer_data.to_display`), with ``layer``, ``description`` and ``segments``
    (root ids as text, exact) features, each point in its annotation layer's colour."""
    colors = colors or {}
    layer = points["layer"].astype(object).where(points["layer"].notna(), "").astype(str).to_numpy()
    feats = pd.DataFrame({
        "layer": layer,
        "description": points["description"].astype(object).where(points["description"].notna(), "")
                                             .astype(str).to_numpy(),
        "segments": [" ".join(str(int(s)) for s in segs) for segs in points["segments"]],
    })
    kwargs = {
        "name": POINTS_LAYER,
        "features": feats,
        "face_color": [colors.get(name, _DEFAULT_POINT_COLOR) for name in layer] or _DEFAULT_POINT_COLOR,
        "border_width": 0.0,
        "size": POINT_SIZE_UM,
        "shading": "spherical",
        "units": "um",
        "metadata": {ld.KIND_KEY: KIND_NEUROGLANCER_POINTS},
    }
    return (ld.to_display(points[["x", "y", "z"]].to_numpy(dtype=float)), kwargs, "points")


class NeuroglancerEvents(SignalGroup):
    """What a :class:`NeuroglancerScene` announces (on the UI thread)."""

    #: the link built or shortened (a :class:`Link`), or None when the chosen neurons changed
    link_changed = Signal(object)
    #: a state was opened in the scene (an :class:`Opened`)
    opened = Signal(object)


class NeuroglancerScene:
    """Neuroglancer links of one :class:`~.scene.Scene` (made by the dock widget, or by a script)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.events = NeuroglancerEvents()
        self._link: Link | None = None
        scene.events.neurons_changed.connect(self._neurons_changed)

    @property
    def link(self) -> Link | None:
        """The link built last for the chosen neurons (None when they changed since)."""
        return self._link

    # -- out ---------------------------------------------------------------------------
    def link_request(self, synapses: str | None = "both", group_by: str = "direction") -> tuple:
        """The arguments of :meth:`link_of` for the chosen neurons, in the scene's colours (UI thread)."""
        if synapses not in SYNAPSE_CHOICES:
            raise DataError(f"synapses must be one of inputs, outputs, both or None (got {synapses!r})")
        if group_by not in GROUP_CHOICES:
            raise DataError(f"group by must be one of {', '.join(GROUP_CHOICES)} (got {group_by!r})")
        dataset = fetch_source(self.scene.dataset)
        ids = [int(r) for r in self.scene.chosen]
        if not ids:
            raise DataError("choose neurons first: a link shows the chosen neurons")
        colors = {r: self.scene.color_of(r) for r in ids}
        return dataset, ids, synapses, group_by, colors

    @staticmethod
    def link_of(dataset, root_ids, synapses, group_by, colors) -> Link:
        """Build the state (worker-safe: offline, no viewer)."""
        state = dataset.neuroglancer_state(root_ids, synapses=synapses, group_by=group_by, colors=colors)
        return Link(state=state, url=state.url(), root_ids=tuple(int(r) for r in root_ids),
                    notes=tuple(state.notes))

    def set_link(self, link: Link | None) -> None:
        self._link = link
        self.events.link_changed.emit(link)

    def build_link(self, synapses: str | None = "both", group_by: str = "direction") -> Link:
        """:meth:`link_request`, :meth:`link_of` and :meth:`set_link` in this thread."""
        link = self.link_of(*self.link_request(synapses, group_by))
        self.set_link(link)
        return link

    def _link_or_fail(self) -> Link:
        if self._link is None:
            raise DataError("build a link for the chosen neurons first")
        return self._link

    def save_json(self, path) -> None:
        """Write the link's state as JSON, atomically."""
        atomic_write_bytes(path, self._link_or_fail().state.json().encode("utf-8"))

    def short_link_request(self) -> tuple:
        return fetch_source(self.scene.dataset), self._link_or_fail()

    @staticmethod
    def short_link_of(dataset, link: Link) -> Link:
        """Upload the state with the dataset's CAVE client (worker: network); the link with ``short``.
        No token: a one-line ``AuthError`` before anything is sent."""
        from dataclasses import replace

        return replace(link, short=link.state.shorten(dataset.client))

    def set_short_link(self, link: Link) -> None:
        """Keep a shortened link, unless the chosen neurons changed meanwhile."""
        if self._link is not None and link.root_ids == self._link.root_ids:
            self.set_link(link)

    def _neurons_changed(self, ids) -> None:
        if self._link is not None and tuple(int(i) for i in ids) != self._link.root_ids:
            self.set_link(None)

    # -- in ----------------------------------------------------------------------------
    def parsed_request(self, text: str) -> tuple:
        """The arguments of :meth:`parsed_of`: a short link goes with the dataset (for its client)."""
        if not str(text).strip():
            raise DataError("paste a Neuroglancer link, a state (JSON) or a CAVE short link first")
        return str(text), self.scene.dataset if is_short_link(text) else None

    @staticmethod
    def parsed_of(text: str, dataset=None):
        """Parse a link, state, file or short link (worker-safe). A short link is fetched with the
        dataset's client; with no CAVE token saved, the parser's one line says to sign in."""
        from .core.errors import AuthError
        from .core.neuroglancer import parse_neuroglancer

        client = None
        if dataset is not None:
            try:
                client = dataset.client
            except AuthError:
                client = None  # no token: the parser's own one-line error says to sign in
        return parse_neuroglancer(text, client=client)

    def show_parsed(self, parsed) -> Opened:
        """The state's neurons chosen, its points shown ("neuroglancer points"), the camera at its
        position (UI thread)."""
        from napari.layers import Layer

        from .camera import camera_of

        ids = [int(r) for r in np.asarray(parsed.root_ids, dtype=np.int64)]
        if ids:
            self.scene.choose(ids)
        viewer = self.scene.viewer
        points = parsed.points
        if len(points):
            _replace_layer(viewer, Layer.create(*points_layer_data(points, annotation_colors(parsed.state))))
        elif _named(viewer, POINTS_LAYER) is not None:
            viewer.layers.remove(POINTS_LAYER)
        position = None
        if parsed.position_um is not None:
            position = tuple(float(v) for v in np.asarray(parsed.position_um, dtype=float).reshape(3))
            centre = ld.to_display(position)[0]
            camera = camera_of(viewer)
            camera.center = tuple(float(c) for c in centre[-len(camera.center):])
            if viewer.dims.ndim == 3:  # in 2D, the plane shown goes to the state's depth too
                viewer.dims.set_point(range(3), tuple(float(c) for c in centre))
        opened = Opened(root_ids=tuple(ids), n_points=len(points), position_um=position)
        self.events.opened.emit(opened)
        return opened

    def open(self, text: str) -> Opened:
        """:meth:`parsed_request`, :meth:`parsed_of` and :meth:`show_parsed` in this thread."""
        return self.show_parsed(self.parsed_of(*self.parsed_request(text)))
