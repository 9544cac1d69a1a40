"""Regenerate the screenshots in docs/ from the synthetic sample (no display needed).

    python docs/make_screenshots.py

- ``demo.png``: ``napari-microns demo --screenshot docs/demo.png``
- ``figure.png``: ``napari-microns figure`` on the sample folder (3 neurons, colour by layer,
  meshes, synapses, camera ``front``)
- ``widget.png``: the napari window with the MICrONS dock widget after fetching two neurons
"""

from __future__ import annotations

import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent


def widget_screenshot(info, out: Path) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_microns.output import save_image

    viewer = napari.Viewer(title="napari-microns")
    viewer.window.resize(1700, 1150)
    _, widget = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    app = QApplication.instance()
    widget.data_panel.load(info.datadir, info.version)
    while widget.data_panel.load_worker is not None or widget.scene.features is None:
        app.processEvents()
    roots = list(info.root_ids[:2])
    widget.scene.choose(roots)
    widget.neurons_panel.start_fetch(roots)
    while widget.neurons_panel.worker is not None:
        app.processEvents()
    app.processEvents()  # the scene faded the units itself when the neurons arrived
    save_image(out, viewer.screenshot(canvas_only=False, flash=False))
    viewer.close()


def main() -> None:
    warnings.simplefilter("ignore")
    from napari_microns import app
    from napari_microns.display import display_available
    from napari_microns.sample import make_sample

    info = make_sample()
    with display_available():  # one X server for all three (Qt keeps its first connection)
        app.demo(screenshot=DOCS / "demo.png")
        app.figure(info.datadir, info.version, DOCS / "figure.png", root_ids=list(info.root_ids[:3]),
                   color_by="layer", mesh=True, synapses=True, camera="front")
        widget_screenshot(info, DOCS / "widget.png")
    print(f"wrote {DOCS / 'widget.png'}")


if __name__ == "__main__":
    main()
