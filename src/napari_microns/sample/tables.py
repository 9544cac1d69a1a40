"""SYNTHETIC units and the raw CAVE tables they come from, as a download writes them.

Cell-type proportions and depth bands are derived from MICrONS v1300
statistics (rounded numbers, no data copied). The block is denser than the
real volume so that microns_datacleaner's layer rule (a 10 µm bin with at
least 300 L2/3 cells starts L2/3) finds the layers on a small footprint.
Table names come from the versions registry (``core/data/versions.json``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.dataset import DEFAULT_DATASTACK
from ..core.layout import Layout
from ..core.tables import write_raw_table
from ..core.transform import um_to_voxels
from ..core.versions import tables_for

#: Bump when the generator changes, so cached samples are rebuilt.
SAMPLE_FORMAT = 3
SAMPLE_VERSION = 1300
#: The roles (see ``core.versions.ROLES``) of the tables the units merge needs: the sample writes these.
UNITS_ROLES = ("nucleus", "celltype", "brain_areas", "proofreading")
#: Synthetic root ids live far from real minnie65 ids (864691...), same size (18 digits).
ROOT_ID_BASE = 999_000_000_000_000_000
NUCLEUS_ID_BASE = 900_000

#: Approximate cortical layer bands of minnie65 v1300 (µm below pia).
LAYER_BANDS = {"L1": (1.0, 71.0), "L2/3": (71.0, 250.0), "L4": (250.0, 360.0),
               "L5": (360.0, 509.0), "L6": (509.0, 828.0)}

#: cell type -> (classification_system, share of nuclei, depth model)
#: depth model: ("band", layer) uniform in a layer with soft edges;
#: ("range", lo, hi) uniform; ("pia", scale) exponential from the pia.
CELL_TYPES: dict[str, tuple[str, float, tuple]] = {
    "23P": ("excitatory_neuron", 0.215, ("band", "L2/3")),
    "4P": ("excitatory_neuron", 0.161, ("band", "L4")),
    "5P-IT": ("excitatory_neuron", 0.087, ("band", "L5")),
    "5P-ET": ("excitatory_neuron", 0.024, ("range", 420.0, 509.0)),
    "5P-NP": ("excitatory_neuron", 0.011, ("range", 440.0, 540.0)),
    "6P-IT": ("excitatory_neuron", 0.128, ("band", "L6")),
    "6P-CT": ("excitatory_neuron", 0.074, ("band", "L6")),
    "BC": ("inhibitory_neuron", 0.036, ("range", 60.0, 740.0)),
    "MC": ("inhibitory_neuron", 0.027, ("range", 60.0, 730.0)),
    "BPC": ("inhibitory_neuron", 0.016, ("range", 40.0, 700.0)),
    "NGC": ("inhibitory_neuron", 0.007, ("pia", 60.0)),
    "astrocyte": ("nonneuron", 0.082, ("range", 3.0, 790.0)),
    "oligo": ("nonneuron", 0.076, ("range", 150.0, 800.0)),
    "microglia": ("nonneuron", 0.027, ("range", 5.0, 770.0)),
    "OPC": ("nonneuron", 0.017, ("range", 5.0, 828.0)),
    "pericyte": ("nonneuron", 0.012, ("range", 10.0, 800.0)),
}

#: Brain areas split the block along x, in these shares (as V1/RL/AL/LM in v1300).
AREAS = [("V1", 0.65), ("RL", 0.235), ("AL", 0.11), ("LM", 0.005)]

#: The block's footprint (pia-aligned µm, x and z), inside the real volume's range.
X_RANGE = (500.0, 900.0)
Z_RANGE = (720.0, 960.0)
#: The whole minnie65 volume's footprint (µm), for full-scale synthetic tables.
FULL_X_RANGE = (200.0, 1550.0)
FULL_Z_RANGE = (600.0, 1100.0)
#: Share of the neurons with a proofread dendrite (60 % of them have a proofread axon too).
PROOFREAD_SHARE = 0.03


# -- units -------------------------------------------------------------------------
def _depths(rng: np.random.Generator, model: tuple, n: int) -> np.ndarray:
    kind = model[0]
    if kind == "band":
        lo, hi = LAYER_BANDS[model[1]]
        d = rng.uniform(lo, hi, n)
        spill = rng.random(n) < 0.06  # a few cells stray past the band's edges
        d[spill] += rng.normal(0.0, 15.0, spill.sum())
    elif kind == "range":
        d = rng.uniform(model[1], model[2], n)
    elif kind == "pia":
        d = 2.0 + rng.exponential(model[1], n)
    else:  # pragma: no cover - table above is fixed
        raise ValueError(kind)
    return np.clip(d, 1.0, 828.0)


def synthetic_units(n_cells: int = 30_000, seed: int = 0, x_range: tuple[float, float] = X_RANGE,
                    z_range: tuple[float, float] = Z_RANGE, proofread_share: float = PROOFREAD_SHARE,
                    root_id_base: int = ROOT_ID_BASE) -> pd.DataFrame:
    """One row per synthetic nucleus: ids, µm position, cell type, area, proofreading.

    Cell types in the shares and depths of :data:`CELL_TYPES`. ``x_range``/``z_range``
    set the footprint (µm); the default is the sample's small block. Root ids are
    ``root_id_base`` + 1000, + 2000, ...
    """
    rng = np.random.default_rng(seed)
    types = list(CELL_TYPES)
    share = np.array([CELL_TYPES[t][1] for t in types])
    counts = np.floor(share / share.sum() * n_cells).astype(int)
    counts[0] += n_cells - counts.sum()
    cell_type = np.repeat(types, counts)
    depth = np.empty(n_cells)
    start = 0
    for t, c in zip(types, counts):
        depth[start : start + c] = _depths(rng, CELL_TYPES[t][2], c)
        start += c
    order = rng.permutation(n_cells)  # ids must not encode the type
    return units_at(cell_type[order], depth[order], rng, x_range, z_range, proofread_share, root_id_base)


def units_at(cell_type, depth, seed: int | np.random.Generator = 0, x_range: tuple[float, float] = X_RANGE,
             z_range: tuple[float, float] = Z_RANGE, proofread_share: float = PROOFREAD_SHARE,
             root_id_base: int = ROOT_ID_BASE) -> pd.DataFrame:
    """Synthetic units of the given cell types (keys of :data:`CELL_TYPES`) at the given
    depths (µm below the pia): ids, a random place in the footprint, class, area,
    proofreading and nucleus volume, one row each in the order given."""
    rng = np.random.default_rng(seed)  # a Generator is used as it is
    cell_type, depth = np.asarray(cell_type), np.asarray(depth, dtype=float)
    n_cells = len(cell_type)
    x = rng.uniform(*x_range, n_cells)
    z = rng.uniform(*z_range, n_cells)
    cls = np.array([CELL_TYPES[t][0] for t in cell_type])

    edges = x_range[0] + np.cumsum([0.0] + [s for _, s in AREAS]) * (x_range[1] - x_range[0])
    area = np.array([a for a, _ in AREAS])[np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(AREAS) - 1)]

    neuron = cls != "nonneuron"
    proofread_dend = neuron & (rng.random(n_cells) < proofread_share)
    proofread_axon = proofread_dend & (rng.random(n_cells) < 0.6)
    strategy_dendrite = np.where(proofread_dend, "dendrite_extended", "none")
    strategy_axon = np.where(proofread_axon, rng.choice(["axon_partially_extended", "axon_fully_extended",
                                                         "axon_interareal"], n_cells, p=[0.84, 0.08, 0.08]), "none")
    return pd.DataFrame({
        "nucleus_id": NUCLEUS_ID_BASE + np.arange(n_cells, dtype=np.int64),
        "pt_root_id": root_id_base + 1000 * np.arange(1, n_cells + 1, dtype=np.int64),
        "x": x, "y": depth, "z": z,
        "classification_system": cls, "cell_type": cell_type, "brain_area": area,
        "strategy_axon": strategy_axon, "strategy_dendrite": strategy_dendrite,
        "volume": np.where(neuron, rng.normal(280, 60, n_cells), rng.normal(120, 30, n_cells)).clip(30),
    })


# -- raw tables --------------------------------------------------------------------
def raw_tables(cells: pd.DataFrame, version: int = SAMPLE_VERSION, whole_voxels: bool = True) -> dict[str, pd.DataFrame]:
    """The four CAVE tables the units merge reads (:data:`UNITS_ROLES`), as a download
    writes them, named as in ``version``.

    Positions are in 4x4x40 nm voxels, whole numbers as CAVE serves them; with
    ``whole_voxels=False`` they keep their fraction, so processing gives back the
    cells' µm positions exactly.
    """
    names = tables_for(version)
    n = len(cells)
    vx = um_to_voxels(cells[["x", "y", "z"]].to_numpy())
    if whole_voxels:
        vx = np.rint(vx).astype(np.int64)
    supervoxel = 88_000_000_000_000_000 + np.arange(n, dtype=np.int64)
    nucleus = pd.DataFrame({
        "id": cells["nucleus_id"].to_numpy(),
        "valid": True,
        "volume": cells["volume"].to_numpy(),
        "pt_supervoxel_id": supervoxel,
        "pt_root_id": cells["pt_root_id"].to_numpy(),
        "pt_position_x": vx[:, 0], "pt_position_y": vx[:, 1], "pt_position_z": vx[:, 2],
    })
    celltype = pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "valid": True,
        "target_id": cells["nucleus_id"].to_numpy(),
        "classification_system": cells["classification_system"].to_numpy(),
        "cell_type": cells["cell_type"].to_numpy(),
    })
    areas = pd.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "valid": True,
        "target_id": cells["nucleus_id"].to_numpy(),
        "tag": cells["brain_area"].to_numpy(),
        "value": np.round(np.random.default_rng(1).uniform(0, 1, n), 3),
    })
    proofread = cells[(cells["strategy_dendrite"] != "none") | (cells["strategy_axon"] != "none")]
    pvx = vx[proofread.index.to_numpy()]
    proof = pd.DataFrame({
        "id": np.arange(1, len(proofread) + 1, dtype=np.int64),
        "valid": True,
        "pt_supervoxel_id": supervoxel[proofread.index.to_numpy()],
        "pt_root_id": proofread["pt_root_id"].to_numpy(),
        "valid_id": proofread["pt_root_id"].to_numpy(),
        "status_dendrite": np.where(proofread["strategy_dendrite"] != "none", "extended", "non"),
        "status_axon": np.where(proofread["strategy_axon"] != "none", "extended", "non"),
        "strategy_dendrite": proofread["strategy_dendrite"].to_numpy(),
        "strategy_axon": proofread["strategy_axon"].to_numpy(),
        "pt_position_x": pvx[:, 0], "pt_position_y": pvx[:, 1], "pt_position_z": pvx[:, 2],
    })
    return dict(zip((names[role] for role in UNITS_ROLES), (nucleus, celltype, areas, proof)))


def functional_tables(nucleus: pd.DataFrame, version: int = SAMPLE_VERSION, seed: int = 2) -> dict[str, pd.DataFrame]:
    """Coregistration and functional-property tables for a nucleus table (as from
    :func:`raw_tables`): a third of the units matched, half of those in two scans."""
    names = tables_for(version)
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
    return {names["coreg"]: coreg, names["func_props"]: funcprops}


def write_raw_tables(layout: Layout, tables: dict[str, pd.DataFrame]) -> None:
    """Write tables + sidecars exactly where ``Dataset.download_tables`` would."""
    for name, df in tables.items():
        write_raw_table(layout, name, df, {
            "datastack": DEFAULT_DATASTACK, "synthetic": True,
            "generator": f"napari_microns.sample (format {SAMPLE_FORMAT})",
        })
