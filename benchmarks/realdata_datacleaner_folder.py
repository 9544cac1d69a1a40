"""Build a microns_datacleaner-layout folder from the real v1300 cell table.

``../shared/realdata/cell_info_1300.feather`` (public MICrONS data, CC-BY 4.0)
is the merge of the four CAVE tables the units table needs, with positions in
nm. This script splits it back into those tables, as microns_datacleaner
writes them (``<datadir>/1300/raw/<table>.csv``, positions in 4x4x40 nm
voxels), so `napari-microns process` can be tried on real data::

    python benchmarks/realdata_datacleaner_folder.py /tmp/dc-data
    napari-microns process --datadir /tmp/dc-data --version 1300

The feather file has no nucleus ids, so they are numbered 1..N here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
CLASS = {"E": "excitatory_neuron", "I": "inhibitory_neuron", "NONNEURON": "nonneuron"}


def realdata_tables(feather: Path) -> dict[str, pd.DataFrame]:
    cells = pd.read_feather(feather)
    n = len(cells)
    nucleus_id = np.arange(1, n + 1)
    vx = cells[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy() / np.array([4.0, 4.0, 40.0])
    nucleus = pd.DataFrame({
        "id": nucleus_id, "valid": True, "volume": cells["volume"],
        "pt_supervoxel_id": 0, "pt_root_id": cells["pt_root_id"],
        "pt_position_x": vx[:, 0].round().astype(int), "pt_position_y": vx[:, 1].round().astype(int),
        "pt_position_z": vx[:, 2].round().astype(int),
    })
    typed = cells["cell_type_auto"].fillna("") != ""
    celltype = pd.DataFrame({
        "id": np.arange(1, typed.sum() + 1), "valid": True, "target_id": nucleus_id[typed],
        "classification_system": cells.loc[typed, "coarse_cell_type_auto"].map(CLASS).to_numpy(),
        "cell_type": cells.loc[typed, "cell_type_auto"].to_numpy(),
    })
    has_area = cells["region"].fillna("") != ""
    areas = pd.DataFrame({"id": np.arange(1, has_area.sum() + 1), "valid": True,
                          "target_id": nucleus_id[has_area], "tag": cells.loc[has_area, "region"].to_numpy()})
    proofread = cells["proofreading_strategy"].fillna("") != ""
    proof = pd.DataFrame({
        "id": np.arange(1, proofread.sum() + 1), "valid": True,
        "pt_root_id": cells.loc[proofread, "pt_root_id"].to_numpy(),
        "strategy_axon": cells.loc[proofread, "proofreading_strategy"].to_numpy(),
        "strategy_dendrite": "dendrite_clean",
    })
    return {
        "nucleus_detection_v0": nucleus,
        "aibs_metamodel_celltypes_v661": celltype,
        "nucleus_functional_area_assignment": areas,
        "proofreading_status_and_strategy": proof,
    }


def write_datacleaner_folder(datadir: Path, feather: Path = REALDATA / "cell_info_1300.feather", version: int = 1300) -> Path:
    raw = Path(datadir) / str(version) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, df in realdata_tables(feather).items():
        df.to_csv(raw / f"{name}.csv", index=False)
    return raw


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datadir", type=Path)
    ap.add_argument("--feather", type=Path, default=REALDATA / "cell_info_1300.feather")
    a = ap.parse_args()
    print(f"wrote {write_datacleaner_folder(a.datadir, a.feather)}")
