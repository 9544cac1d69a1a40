"""Regenerate the 2D figures in docs/ (``napari_microns.figure2d``; matplotlib, no display).

    python docs/make_figure2d.py [--datadir /tmp/napari-microns-realdata]

- ``figure2d.png``: the REAL basket cell 864691135101289504 (MICrONS v1300, CC-BY 4.0) with
  its 12,424 input and 6,514 output synapses, when ``../shared/realdata`` (beside the
  repository) exists: the v1300 cell table is turned into a datacleaner folder
  (``benchmarks/realdata_datacleaner_folder.py``) and processed, the skeleton put in the
  cache (``ds.morphology.store_skeleton``), the synapses imported (positions in nm).
- ``figure2d_sample.png``: four neurons of the SYNTHETIC sample side by side (``lineup``).
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
        figure2d(ds, [BASKET], out=DOCS / "figure2d.png", dpi=150,
                 title=f"basket cell {BASKET} (MICrONS v1300), front view")
        print(f"wrote {DOCS / 'figure2d.png'}")
    else:
        print(f"{REALDATA} not found: docs/figure2d.png (real data) not regenerated")
    info = make_sample()
    figure2d(Dataset(info.datadir, version=info.version), list(info.root_ids), out=DOCS / "figure2d_sample.png",
             lineup=True, dpi=120, title="four neurons side by side")
    print(f"wrote {DOCS / 'figure2d_sample.png'}")


if __name__ == "__main__":
    main()
