"""Regenerate the figures of docs/figures.md and the 2D figures of docs/plugin.md.

    python docs/make_figures.py [--datadir /tmp/napari-microns-realdata]

From the REAL data, when ``../shared/realdata`` (beside the repository) exists: the v1300
cell table is turned into a datacleaner folder (``benchmarks/realdata_datacleaner_folder.py``)
and processed, the basket cell 864691135101289504's skeleton put in the cache
(``ds.morphology.store_skeleton``) and its 12,424 input and 6,514 output synapses imported
(positions in nm). MICrONS Consortium, CC-BY 4.0.

- ``figures/camera-<preset>.png``: the basket cell and its synapses among the 91,422 units,
  one per camera preset;
- ``figures/print-white.png``: a print figure (white background, 300 dpi in the file);
- ``figures/colour-volume.png``: the units coloured by nucleus volume, with its colour bar;
- ``figures/figure2d.svg`` / ``figure2d.png``: the basket cell in 2D (vector: about 5 MB with its
  19k synapses, so not kept in git; and as PNG for the page);
- ``figure2d_sample.png``: four neurons of the SYNTHETIC sample side by side (``lineup``).

The 3D figures need a display; without one an Xvfb is started (``napari_microns.display``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REALDATA = DOCS.parents[1] / "shared" / "realdata"
BASKET = 864691135101289504


def real_dataset(datadir: Path):
    """The processed v1300 folder with the basket cell's skeleton and synapses (made once)."""
    sys.path.insert(0, str(DOCS.parent / "benchmarks"))
    from realdata_datacleaner_folder import write_datacleaner_folder

    from napari_microns.core.dataset import Dataset

    ds = Dataset(datadir, version=1300)
    if not ds.layout.units_path.exists():
        write_datacleaner_folder(datadir, REALDATA / "cell_info_1300.feather", 1300)
        ds.process()
    folder = REALDATA / f"neuron_{BASKET}"
    with open(folder / "skeleton.json") as fh:
        ds.morphology.store_skeleton(BASKET, json.load(fh))
    if not ds.synapse_store.has("synapses"):
        for name in ("input_synapses.feather", "output_synapses.feather"):
            ds.import_synapses(folder / name, position_unit="nm")
    return ds


def real_3d_figures(datadir: Path) -> None:
    """The 3D figures of docs/figures.md, through the same function as ``napari-microns figure``."""
    from napari_microns import app
    from napari_microns.camera import CAMERA_PRESETS
    from napari_microns.display import display_available

    figures = DOCS / "figures"
    figures.mkdir(exist_ok=True)
    common = dict(root_ids=[BASKET], synapses=True, width=1400, height=1000)
    jobs = [(f"camera-{preset}.png", dict(camera=preset)) for preset in CAMERA_PRESETS]
    jobs += [("print-white.png", dict(camera="pia_up", background="white", dpi=300)),
             ("colour-volume.png", dict(camera="front", color_by="volume", synapses=False))]
    with display_available():  # one display for all of them (Qt outlives a figure)
        for name, options in jobs:
            app.figure(datadir, 1300, figures / name, **{**common, **options})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datadir", type=Path, default=Path("/tmp/napari-microns-realdata"),
                    help="where to build the real-data folder (default: /tmp/napari-microns-realdata)")
    a = ap.parse_args()

    from napari_microns.core.dataset import Dataset
    from napari_microns.figure2d import figure2d
    from napari_microns.sample import make_sample

    if REALDATA.is_dir():
        ds = real_dataset(a.datadir)
        title = f"basket cell {BASKET} (MICrONS v1300), front view"
        for out, dpi in ((DOCS / "figures" / "figure2d.svg", None), (DOCS / "figure2d.png", 150)):
            out.parent.mkdir(exist_ok=True)
            figure2d(ds, [BASKET], out=out, dpi=dpi or 150, title=title)
            print(f"wrote {out}")
        real_3d_figures(a.datadir)
    else:
        print(f"{REALDATA} not found: the real-data figures were not regenerated")
    info = make_sample()
    figure2d(Dataset(info.datadir, version=info.version), list(info.root_ids), out=DOCS / "figure2d_sample.png",
             lineup=True, dpi=120, title="four neurons side by side")
    print(f"wrote {DOCS / 'figure2d_sample.png'}")


if __name__ == "__main__":
    main()
