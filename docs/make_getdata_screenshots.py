"""Regenerate the pictures of the Get data tab in docs/plugin.md, offline: the fake CAVE server of
the tests (``tests/support``) serves a SYNTHETIC version 1300 and a fake auth server a made-up
account, in a HOME of its own (your real token files are never read or written). No display
needed (a virtual one is started when there is none).

    python docs/make_getdata_screenshots.py

- ``getdata_signin.png``: the Sign in panel after signing in (the token field empty again)
- ``getdata_download.png``: the Get a version panel after Download and process: the summary
  (kept, removed, the layer table)
- ``getdata_prefetch.png``: the Prefetch panel after downloading the synapses onto the shown
  proofread units (the fake server holds synapses of 40 of them)
- ``getdata_window.png``: the napari window: the Get data tab and the units loaded
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
TOKEN = "made-up-token-for-the-docs-0123456789"


def _wait(app, busy) -> None:
    while busy():
        app.processEvents()
    app.processEvents()


def _grab(widget, out: Path) -> None:
    widget.grab().save(str(out))
    print(f"wrote {out}")


def _prefetch(app, widget, fake) -> None:
    """Synapses onto the shown proofread units, downloaded through the Prefetch panel."""
    import numpy as np
    from support.fake_cave import SYNAPSE_TABLE, synapse_table

    from napari_microns.prefetch import prefetch_ids

    ids = prefetch_ids(widget.scene, "shown proofread")[:40]
    table = synapse_table(n_neurons=len(ids), n_synapses=3000)
    made_up = np.unique(table[["pre_pt_root_id", "post_pt_root_id"]].to_numpy())
    for column in ("pre_pt_root_id", "post_pt_root_id"):
        table[column] = table[column].map(dict(zip(made_up.tolist(), ids.tolist())))
    fake.tables[SYNAPSE_TABLE] = table
    panel = widget.prefetch_panel
    panel.source_combo.setCurrentText("shown proofread")
    panel.direction_combo.setCurrentText("inputs")
    panel.synapses_button.click()
    _wait(app, lambda: panel.worker is not None)
    for _ in range(3):  # the summary's wrapped line lays out over a few turns of the loop
        app.processEvents()


def pictures() -> None:
    import napari
    from qtpy.QtWidgets import QApplication
    from support.fake_auth import FakeAuth
    from support.fake_cave import FakeCAVE

    from napari_microns.core.account import GLOBAL_SERVER
    from napari_microns.sample.tables import functional_tables, raw_tables, synthetic_units
    from make_circuit_screenshots import _shot

    tables = raw_tables(synthetic_units(30_000))  # fewer cells: too few markers per depth bin for the layers
    tables.update(functional_tables(tables["nucleus_detection_v0"]))
    fake = FakeCAVE(tables, versions=[1300, 1412], row_cap=10_000)
    client = fake.client(1300)

    viewer = napari.Viewer(title="napari-microns")
    viewer.window.resize(1500, 1150)
    _, widget = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    app = QApplication.instance()
    tabs = widget.tabs
    tabs.setCurrentIndex(next(i for i in range(tabs.count()) if tabs.tabText(i) == "Get data"))
    widget.get_version.use_client(lambda: client)
    signin, download = widget.signin_panel, widget.download_panel
    with fake:
        FakeAuth({TOKEN: (1, "A. Neuroscientist", "a.neuroscientist@example.org")}, server=GLOBAL_SERVER).install(fake.mock)
        signin.token_edit.setText(TOKEN)
        signin.sign_in_button.click()
        _wait(app, lambda: signin.worker is not None)
        download.datadir_edit.setText("~/microns-data")
        download.list_button.click()
        _wait(app, lambda: download.list_worker is not None)
        download.version_combo.setCurrentIndex(download.version_combo.findData(1300))
        download.download_button.click()
        _wait(app, lambda: download.worker is not None)
        _prefetch(app, widget, fake)
    _grab(signin, DOCS / "getdata_signin.png")
    _grab(download, DOCS / "getdata_download.png")
    _grab(widget.prefetch_panel, DOCS / "getdata_prefetch.png")
    _shot(viewer, DOCS / "getdata_window.png")
    viewer.close()


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="napari-microns-docs-"))
    os.environ["HOME"] = str(home)  # caveclient's token files and ~/microns-data go here
    sys.path[:0] = [str(DOCS.parent / "tests"), str(DOCS)]
    warnings.simplefilter("ignore")
    from napari_microns.display import display_available

    with display_available():
        pictures()


if __name__ == "__main__":
    main()
