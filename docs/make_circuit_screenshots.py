"""Regenerate the pictures of docs/circuit.md (the synthetic sample; the real basket cell when
a real-data folder is given). No display needed (a virtual one is started when there is none).

    python docs/make_circuit_screenshots.py [--realdir FOLDER]

From the sample (SYNTHETIC):

- ``circuit_partners.png``: napari with the Partners tab: a pyramidal cell's inputs, the units
  coloured by their synapse count onto it, the partner table, bars and depth histogram
- ``circuit_connectivity.png``: the Connectivity tab: the matrix among the proofread cells and
  one pair's synapses in 3D
- ``circuit_functional.png``: looking down from the pia on the L2/3 pyramidal cells coloured by
  preferred orientation (the sample's synthetic pinwheel map), the cell's input synapses coloured
  by their presynaptic partner's preferred orientation
- ``figures/connectivity_sample.png``: ``napari-microns connectivity --ids proofread --out ...``
- ``figures/partners_sample.png``: the partners figure of the same cell

With ``--realdir`` (a folder made by ``benchmarks/realdata_datacleaner_folder.py`` and processed
at v1300; MICrONS data from ``../shared/realdata``, CC-BY 4.0): the real basket cell's 6,514
output synapses are imported as *all of its outputs* and drawn by partner cell type:

- ``figures/basket_outputs.png`` and ``circuit_basket.png`` (napari: its partners coloured by
  synapse count, its skeleton and output synapses)
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REAL = DOCS.parent.parent / "shared" / "realdata"
BASKET = 864691135101289504
CREDIT = "Data: MICrONS Consortium (minnie65 v1300), CC-BY 4.0"


def _wait(app, busy) -> None:
    while busy():
        app.processEvents()
    app.processEvents()


def _window(datadir, version, size=(1750, 1150)):
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(title="napari-microns")
    viewer.window.resize(*size)
    _, widget = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    app = QApplication.instance()
    widget.data_panel.load(datadir, version)
    _wait(app, lambda: widget.data_panel.load_worker is not None or widget.scene.features is None)
    return viewer, widget, app


def _fetch(widget, app, roots, kinds=("skeleton", "mesh", "synapses")) -> None:
    widget.scene.choose(roots)
    widget.neurons_panel.start_fetch(roots, kinds)
    _wait(app, lambda: widget.neurons_panel.worker is not None)


def _frame(viewer, app, root_id: int, zoom: float) -> None:
    """The neuron in the middle of the canvas, pia up, zoomed out to show the cells around it."""
    from napari_microns.camera import frame_layers

    frame_layers(viewer, [lyr for lyr in viewer.layers if str(root_id) in lyr.name])
    viewer.camera.zoom *= zoom
    app.processEvents()


def _shot(viewer, out: Path) -> None:
    from napari_microns.output import save_image

    save_image(out, viewer.screenshot(canvas_only=False, flash=False))
    print(f"wrote {out}")


def sample_pictures(info) -> None:
    from napari_microns import Dataset
    from napari_microns.camera import set_camera
    from napari_microns.circuit_figure import connectivity_figure, partners_figure, save
    from napari_microns.core.synapses import partner_summary
    from napari_microns.sample import MARKER_FILE

    marker = json.loads((info.layout.root / MARKER_FILE).read_text())
    types = dict(zip(marker.get("root_ids", []), marker.get("cell_types", [])))
    pyramidal = next((r for r in info.root_ids if types.get(r) == "23P"), info.root_ids[0])

    viewer, widget, app = _window(info.datadir, info.version)
    _fetch(widget, app, [pyramidal])
    circuit = widget.circuit
    widget.tabs.setCurrentWidget(widget.partners_panel.parentWidget())
    circuit.show_partners(pyramidal, "inputs")
    circuit.colour_units_by_connection("count")
    _frame(viewer, app, pyramidal, 0.6)
    _shot(viewer, DOCS / "circuit_partners.png")

    # function: looking down from the pia onto the L2/3 pyramidal cells, by preferred orientation
    circuit.colour_units_by_connection(None)
    scene = widget.scene
    scene.set_filters(classes=["excitatory_neuron"], cortical_layers=["L2/3"])
    scene.set_color_by("pref_ori")
    scene.set_context(opacity=0.9)
    circuit.colour_synapses("pref_ori")
    planes = [lyr for lyr in viewer.layers if lyr.name in ("cortical layers", "layer boundaries", "layer labels")]
    for layer in planes:
        layer.visible = False
    set_camera(viewer, "top")
    viewer.camera.zoom *= 1.5
    widget.tabs.setCurrentIndex(0)
    app.processEvents()
    _shot(viewer, DOCS / "circuit_functional.png")
    for layer in planes:
        layer.visible = True
    scene.set_filters()
    scene.set_color_by("cell_type")
    set_camera(viewer, "pia_up")
    widget.tabs.setCurrentWidget(widget.connectivity_panel.parentWidget())
    circuit.set_matrix_ids("proofread")
    conn = circuit.compute_connectivity("count")
    m = conn.matrix.to_numpy()
    i, j = divmod(int(m.argmax()) if m.size else 0, m.shape[1])  # the strongest pair
    circuit.show_pair(int(conn.root_ids[i]), int(conn.root_ids[j]))
    scene.set_filters(proofread_only=True)  # the matrix's cells
    scene.set_context(opacity=0.3, size=3.0)
    _frame(viewer, app, int(conn.root_ids[i]), 0.3)  # the pair's synapses, among the cells around them
    _shot(viewer, DOCS / "circuit_connectivity.png")
    viewer.close()

    ds = Dataset(info.datadir, version=info.version)
    fig = connectivity_figure(conn, synthetic=True, sizes=True,
                              title=f"{len(conn.root_ids)} proofread neurons by cell type")
    save(fig, DOCS / "figures" / "connectivity_sample.png")
    p = ds.partners(pyramidal, "inputs")
    save(partners_figure(p, partner_summary(p), ds.layers(), synthetic=True), DOCS / "figures" / "partners_sample.png")
    print("wrote the sample figures in", DOCS / "figures")


def real_pictures(realdir: Path) -> None:
    import pandas as pd

    from napari_microns import Dataset
    from napari_microns.circuit_figure import partners_figure, save
    from napari_microns.core.synapses import partner_summary

    ds = Dataset(realdir, version=1300)
    neuron = REAL / f"neuron_{BASKET}"
    outputs = pd.read_feather(neuron / "output_synapses.feather")
    ds.import_synapses(outputs, position_unit="nm", covers={"pre": [BASKET], "post": "all"})
    ds.morphology.store_skeleton(BASKET, json.loads((neuron / "skeleton.json").read_text()))
    p = ds.partners(BASKET, "outputs")
    summary = partner_summary(p)
    print(p.note)
    print(summary.head(12).to_string(index=False))
    save(partners_figure(p, summary, ds.layers(), credit=CREDIT, title="A basket cell (real MICrONS data)"),
         DOCS / "figures" / "basket_outputs.png")

    viewer, widget, app = _window(realdir, 1300)
    _fetch(widget, app, [BASKET], ("skeleton", "synapses"))  # no mesh: that needs CAVE
    widget.tabs.setCurrentWidget(widget.partners_panel.parentWidget())
    widget.partners_panel.direction_combo.setCurrentText("outputs")
    widget.circuit.show_partners(BASKET, "outputs")
    widget.circuit.colour_units_by_connection("count")
    _frame(viewer, app, BASKET, 0.6)
    _shot(viewer, DOCS / "circuit_basket.png")
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdir", type=Path, default=None,
                        help="a real-data folder (benchmarks/realdata_datacleaner_folder.py, processed at v1300)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from napari_microns.display import display_available
    from napari_microns.sample import make_sample

    info = make_sample()
    with display_available():
        sample_pictures(info)
        if args.realdir is not None:
            real_pictures(args.realdir)


if __name__ == "__main__":
    main()
