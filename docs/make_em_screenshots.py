"""Regenerate the pictures and the example state of docs/em.md. No display needed.

    python docs/make_em_screenshots.py [--realdir FOLDER]

From the sample (SYNTHETIC, including its EM-like image and segmentation layers):

- ``em_slab.png``: napari with the EM tab: an EM slab through a pyramidal cell's soma, among its
  mesh (translucent), skeleton and synapses, its segment in the neuron's colour
- ``figures/em_sample.png``: the EM figure ``napari-microns emfigure --at X Y Z`` draws there
- ``neuroglancer_panel.png``: the Neuroglancer tab after building that cell's link and opening
  it again

With ``--realdir`` (the real v1300 folder of docs/circuit.md): ``neuroglancer_basket.json``, the
state of the real basket cell 864691135101289504 on the public MICrONS EM and ``seg_m1300``
segmentation, and its link printed (paste it into a browser).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from make_circuit_screenshots import BASKET, DOCS, _fetch, _shot, _window


def sample_pictures(info) -> None:
    from napari_microns import Dataset
    from napari_microns.camera import frame_layers
    from napari_microns.em_figure import dataset_em_figure
    from napari_microns.figure2d import save
    from napari_microns.sample import MARKER_FILE

    em = json.loads((info.layout.root / MARKER_FILE).read_text())["em"]
    root, center = int(em["root_id"]), tuple(em["center_um"])

    viewer, widget, app = _window(info.datadir, info.version)
    _fetch(widget, app, [root])
    for layer in viewer.layers:
        if layer.name.startswith("mesh"):
            layer.opacity = 0.3  # see the slab through the soma
        if layer.name == "somata":
            layer.visible = False
    widget.scene.set_context(opacity=0.08)  # the other cells: a faint context
    widget.em.show(widget.em.cutout_of({"center": center}, size_um=16.0, sections=1))
    widget.tabs.setCurrentWidget(widget.em_panel.parentWidget())
    frame_layers(viewer, [viewer.layers["EM image"]])  # the slab in the middle, the neuron around it
    viewer.camera.zoom *= 0.45
    app.processEvents()
    _shot(viewer, DOCS / "em_slab.png")

    ng, panel = widget.neuroglancer, widget.neuroglancer_panel
    panel.synapses_combo.setCurrentIndex(panel.synapses_combo.findData("outputs"))
    panel.group_combo.setCurrentIndex(panel.group_combo.findData("cell_type"))
    link = ng.build_link(synapses=panel.synapses_combo.currentData(), group_by=panel.group_combo.currentData())
    panel.open_edit.setPlainText(link.text[:300] + "…")  # what a user pastes (shortened on screen)
    ng.open(link.text)
    widget.tabs.setCurrentWidget(widget.neuroglancer_panel.parentWidget())
    app.processEvents()
    widget.grab().save(str(DOCS / "neuroglancer_panel.png"))
    print(f"wrote {DOCS / 'neuroglancer_panel.png'}")
    viewer.close()

    ds = Dataset(info.datadir, version=info.version)
    drawn, _ = dataset_em_figure(ds, at=center, size_um=16.0, root_ids=[root])
    save(drawn.figure, DOCS / "figures" / "em_sample.png", 200)
    print(f"wrote {DOCS / 'figures' / 'em_sample.png'}")


def real_state(realdir: Path) -> None:
    from napari_microns import Dataset
    from napari_microns.core.layout import atomic_write_json

    ds = Dataset(realdir, version=1300)
    state = ds.neuroglancer_state([BASKET], synapses=None)
    atomic_write_json(DOCS / "neuroglancer_basket.json", state.state)
    print(f"wrote {DOCS / 'neuroglancer_basket.json'}")
    print(state.url())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdir", type=Path, default=None, help="the real v1300 folder of docs/circuit.md")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from napari_microns.display import display_available
    from napari_microns.sample import make_sample

    info = make_sample()
    with display_available():
        sample_pictures(info)
    if args.realdir is not None:
        real_state(args.realdir)


if __name__ == "__main__":
    main()
