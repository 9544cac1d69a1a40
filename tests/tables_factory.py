"""Small raw CAVE tables with known contents, shaped as the server sends them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from napari_microns.core.transform import um_to_voxels

ROOT_BASE = 864691135_000_000_000

# depth band (µm below pia) and marker type of each layer in the known-answer fixture
BANDS = [("L1", 0, 50, "BC"), ("L2/3", 50, 200, "23P"), ("L4", 200, 300, "4P"),
         ("L5", 300, 450, "5P-IT"), ("L6", 450, 600, "6P-IT")]
CLASS_OF = {"23P": "excitatory_neuron", "4P": "excitatory_neuron", "5P-IT": "excitatory_neuron",
            "6P-IT": "excitatory_neuron", "BC": "inhibitory_neuron", "MC": "inhibitory_neuron",
            "OPC": "nonneuron", "astrocyte": "nonneuron"}


def layered_cells(seed: int = 0, per_bin: int = 310) -> pd.DataFrame:
    """Cells whose datacleaner layers are known: L1 0-50, L2/3 50-200, L4 200-300, L5 300-450, L6 450-600 µm.

    Each 10 µm bin holds ``per_bin`` cells of its layer's marker type, placed
    within 3 µm of the bin centre; L1 bins hold a few BC and 23P cells (< 300).
    One bin of L5 (400-410) is empty (Unknown) and one bin of L6 (500-510) is
    OPC-dominated (WM): both must be absorbed. The shallowest and deepest cells
    sit at 0 and 599.999 µm so the 60 bins fall on the band edges (to 0.01 µm).
    """
    rng = np.random.default_rng(seed)
    depth, types = [], []
    for layer, top, bottom, marker in BANDS:
        for b0 in range(top, bottom, 10):
            centre = b0 + 5
            if layer == "L1":
                kinds = ["BC"] * 20 + ["23P"] * 40
            elif b0 == 400:
                kinds = []
            elif b0 == 500:
                kinds = ["OPC"] * 50
            else:
                kinds = [marker] * per_bin
            depth += list(centre + rng.uniform(-3, 3, len(kinds)))
            types += kinds
    depth += [0.0, 599.999]  # range just under 600 µm: exactly 60 bins
    types += ["BC", "6P-IT"]
    n = len(depth)
    xz = rng.uniform([300, 300], [900, 900], size=(n, 2))
    return pd.DataFrame({"x_um": xz[:, 0], "depth_um": depth, "z_um": xz[:, 1], "cell_type": types})


def raw_tables(cells: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The four CAVE tables of a units merge, for ``cells`` (one nucleus each)."""
    rng = np.random.default_rng(seed)
    n = len(cells)
    vx = um_to_voxels(cells[["x_um", "depth_um", "z_um"]].to_numpy())
    nucleus_id = np.arange(10_000, 10_000 + n)
    # ids are not in storage order on the real server; shuffle the rows
    order = rng.permutation(n)
    nucleus = pd.DataFrame({
        "id": nucleus_id, "created": pd.Timestamp("2023-01-01"), "valid": True, "volume": rng.uniform(100, 400, n),
        "pt_supervoxel_id": rng.integers(1, 2**50, n), "pt_root_id": ROOT_BASE + np.arange(n),
        "pt_position_x": vx[:, 0], "pt_position_y": vx[:, 1], "pt_position_z": vx[:, 2],
    }).iloc[order].reset_index(drop=True)
    celltype = pd.DataFrame({
        "id": np.arange(1, n + 1), "valid": True, "target_id": nucleus_id,
        "classification_system": cells["cell_type"].map(CLASS_OF).to_numpy(), "cell_type": cells["cell_type"].to_numpy(),
    }).iloc[order].reset_index(drop=True)
    areas = pd.DataFrame({"id": np.arange(1, n + 1), "valid": True, "target_id": nucleus_id,
                          "tag": rng.choice(["V1", "RL", "AL"], n, p=[0.6, 0.25, 0.15])})
    proof_ix = rng.choice(n, size=max(n // 50, 3), replace=False)
    proof = pd.DataFrame({
        "id": np.arange(1, len(proof_ix) + 1), "valid": True,
        "pt_root_id": ROOT_BASE + proof_ix, "valid_id": ROOT_BASE + proof_ix,
        "status_dendrite": "extended", "status_axon": "extended",
        "strategy_dendrite": "dendrite_extended", "strategy_axon": "axon_fully_extended",
    })
    return {
        "nucleus_detection_v0": nucleus,
        "aibs_metamodel_celltypes_v661": celltype,
        "nucleus_functional_area_assignment": areas,
        "proofreading_status_and_strategy": proof,
    }


def small_cells(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """A few hundred cells in layered bands (for download/merge tests, not for exact layers)."""
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0, 600, n)
    types = np.where(depth < 50, "BC", np.where(depth < 200, "23P", np.where(depth < 300, "4P", np.where(depth < 450, "5P-IT", "6P-IT"))))
    types = np.where(rng.random(n) < 0.1, "astrocyte", types)
    xz = rng.uniform(300, 900, size=(n, 2))
    return pd.DataFrame({"x_um": xz[:, 0], "depth_um": depth, "z_um": xz[:, 1], "cell_type": types})


def functional_tables(nucleus: pd.DataFrame, seed: int = 2) -> dict[str, pd.DataFrame]:
    """Coregistration and functional-property tables: some units with two scans."""
    rng = np.random.default_rng(seed)
    pick = nucleus.sample(frac=0.3, random_state=seed)
    twice = pick.sample(frac=0.5, random_state=seed)
    rows = pd.concat([pick, twice], ignore_index=True)
    m = len(rows)
    common = {"id": np.arange(1, m + 1), "valid": True, "target_id": rows["id"].to_numpy(),
              "pt_root_id": rows["pt_root_id"].to_numpy(), "session": rng.integers(4, 9, m),
              "scan_idx": rng.integers(1, 20, m), "unit_id": rng.integers(1, 9000, m)}
    coreg = pd.DataFrame(common)
    funcprops = pd.DataFrame({**common, "pref_ori": rng.uniform(0, np.pi, m), "pref_dir": rng.uniform(0, 2 * np.pi, m),
                              "gOSI": rng.uniform(0, 1, m), "gDSI": rng.uniform(0, 1, m), "cc_abs": rng.uniform(0, 1, m)})
    return {"coregistration_manual_v4": coreg, "functional_properties_v3_bcm": funcprops}
