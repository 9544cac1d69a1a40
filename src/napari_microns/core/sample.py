"""A small, deterministic, SYNTHETIC MICrONS-like dataset for demos and tests.

Nothing here is real data. The generator writes raw tables the way a CAVE
download does (``<datadir>/<version>/raw/<table>.parquet`` with provenance
sidecars marked ``"synthetic": true``) and then runs the real pipeline on
them, so the demo exercises the same code as real data:

* ``Dataset.process()`` merges the tables into units and derives the layers;
* ``Dataset.import_synapses(frame)`` fills the synapse store;
* a ``file://`` precomputed layer (skeletons and meshes written with
  cloud-volume) is registered as the morphology source, and the morphology
  API fills the cache from it.

Cell-type proportions and depth bands are derived from MICrONS v1300
statistics (rounded numbers, no data copied). The block is denser than the
real volume so that microns_datacleaner's layer rule (a 10 µm bin with at
least 300 L2/3 cells starts L2/3) finds the layers on a small footprint.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .layout import Layout, atomic_write_json, read_json
from .tables import write_raw_table
from .transform import um_to_nm, um_to_voxels

log = logging.getLogger(__name__)

#: Bump when the generator changes, so cached samples are rebuilt.
SAMPLE_FORMAT = 1
SAMPLE_VERSION = 1300
MARKER_FILE = "SYNTHETIC_SAMPLE.json"
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

NUCLEUS_TABLE = "nucleus_detection_v0"
CELLTYPE_TABLE = "aibs_metamodel_celltypes_v661"
AREA_TABLE = "nucleus_functional_area_assignment"
PROOF_TABLE = "proofreading_status_and_strategy"

#: Face budget of a displayed mesh; the sample fills the cache at this budget.
DISPLAY_MAX_FACES = 100_000

#: The neurons that get skeletons, meshes and synapses: (cell type, target depth).
SHOWCASE = [("23P", 150.0), ("5P-ET", 470.0), ("4P", 300.0), ("BC", 330.0)]


@dataclass(frozen=True)
class SampleInfo:
    """Where a generated sample lives and which neurons it details."""

    datadir: Path
    version: int
    root_ids: tuple[int, ...]  # neurons with skeletons, meshes and synapses

    @property
    def layout(self) -> Layout:
        return Layout(self.datadir, self.version)


def default_sample_dir() -> Path:
    """``$NAPARI_MICRONS_SAMPLE_DIR`` or a per-user cache folder."""
    env = os.environ.get("NAPARI_MICRONS_SAMPLE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-microns" / "sample"


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
                    z_range: tuple[float, float] = Z_RANGE) -> pd.DataFrame:
    """One row per synthetic nucleus: ids, µm position, cell type, area, proofreading.

    ``x_range``/``z_range`` set the footprint (µm); the default is the sample's small block.
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
    cell_type, depth = cell_type[order], depth[order]
    x = rng.uniform(*x_range, n_cells)
    z = rng.uniform(*z_range, n_cells)
    cls = np.array([CELL_TYPES[t][0] for t in cell_type])

    edges = x_range[0] + np.cumsum([0.0] + [s for _, s in AREAS]) * (x_range[1] - x_range[0])
    area = np.array([a for a, _ in AREAS])[np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(AREAS) - 1)]

    neuron = cls != "nonneuron"
    proofread_dend = neuron & (rng.random(n_cells) < 0.03)
    proofread_axon = proofread_dend & (rng.random(n_cells) < 0.6)
    strategy_dendrite = np.where(proofread_dend, "dendrite_extended", "none")
    strategy_axon = np.where(proofread_axon, rng.choice(["axon_partially_extended", "axon_fully_extended",
                                                         "axon_interareal"], n_cells, p=[0.84, 0.08, 0.08]), "none")
    return pd.DataFrame({
        "nucleus_id": NUCLEUS_ID_BASE + np.arange(n_cells, dtype=np.int64),
        "pt_root_id": ROOT_ID_BASE + 1000 * np.arange(1, n_cells + 1, dtype=np.int64),
        "x": x, "y": depth, "z": z,
        "classification_system": cls, "cell_type": cell_type, "brain_area": area,
        "strategy_axon": strategy_axon, "strategy_dendrite": strategy_dendrite,
        "volume": np.where(neuron, rng.normal(280, 60, n_cells), rng.normal(120, 30, n_cells)).clip(30),
    })


def raw_tables(cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The four CAVE tables the units merge reads, as a download writes them."""
    n = len(cells)
    vx = np.rint(um_to_voxels(cells[["x", "y", "z"]].to_numpy())).astype(np.int64)
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
    return {NUCLEUS_TABLE: nucleus, CELLTYPE_TABLE: celltype, AREA_TABLE: areas, PROOF_TABLE: proof}


def write_raw_tables(layout: Layout, tables: dict[str, pd.DataFrame]) -> None:
    """Write tables + sidecars exactly where ``Dataset.download_tables`` would."""
    for name, df in tables.items():
        write_raw_table(layout, name, df, {
            "datastack": "minnie65_public", "synthetic": True,
            "generator": f"napari_microns.core.sample (format {SAMPLE_FORMAT})",
        })


# -- neurons -----------------------------------------------------------------------
@dataclass
class SyntheticNeuron:
    """A skeleton (µm) and a tube mesh (µm) that look like a neuron."""

    root_id: int
    cell_type: str
    soma_um: np.ndarray
    vertices: np.ndarray  # (N, 3) µm
    edges: np.ndarray  # (E, 2) child -> parent
    radius: np.ndarray  # (N,) µm
    compartment: np.ndarray  # (N,) SWC: 1 soma, 2 axon, 3 basal, 4 apical
    mesh_vertices: np.ndarray | None = None
    mesh_faces: np.ndarray | None = None

    @property
    def root(self) -> int:
        return 0


class _TreeBuilder:
    def __init__(self, soma: np.ndarray, soma_radius: float, rng: np.random.Generator):
        self.rng = rng
        self.vertices = [np.asarray(soma, float)]
        self.parent = [-1]
        self.radius = [soma_radius]
        self.comp = [1]
        self.paths: list[list[int]] = []

    def grow(self, start: int, direction, length: float, radius: float, comp: int, step: float = 2.0,
             wiggle: float = 0.15, taper: float = 0.5, branch_every: float | None = None, depth: int = 0,
             start_offset: float = 0.0, max_depth: int = 2) -> None:
        """A wiggly branch from vertex ``start``; optionally side branches."""
        d = np.asarray(direction, float)
        d /= np.linalg.norm(d)
        pos = self.vertices[start] + d * start_offset
        prev = start
        n = max(int(length / step), 2)
        path = [start]
        for i in range(n):
            d = d + self.rng.normal(0, wiggle, 3)
            d /= np.linalg.norm(d)
            pos = pos + d * step
            r = radius * (1.0 - taper * i / n)
            self.vertices.append(pos.copy())
            self.parent.append(prev)
            self.radius.append(r)
            self.comp.append(comp)
            prev = len(self.vertices) - 1
            path.append(prev)
            if branch_every and depth < max_depth and i > 3 and self.rng.random() < step / branch_every:
                side = np.cross(d, self.rng.normal(0, 1, 3))
                side /= np.linalg.norm(side)
                new_dir = d * 0.5 + side
                self.grow(prev, new_dir, length * (1 - i / n) * self.rng.uniform(0.4, 0.8), r * 0.7, comp,
                          step, wiggle, taper, branch_every * 1.5, depth + 1, max_depth=max_depth)
        self.paths.append(path)

    def arrays(self):
        v = np.array(self.vertices)
        parent = np.array(self.parent)
        child = np.flatnonzero(parent >= 0)
        edges = np.column_stack([child, parent[child]]).astype(np.int64)
        return v, edges, np.array(self.radius), np.array(self.comp, dtype=np.int64)


def build_neuron(root_id: int, cell_type: str, soma_um, seed: int) -> SyntheticNeuron:
    """A pyramidal cell (apical dendrite to the pia, basal dendrites, descending
    axon with collaterals) or an interneuron (radial dendrites, local axon)."""
    rng = np.random.default_rng(seed)
    soma = np.asarray(soma_um, float)
    soma_r = 8.0 if cell_type.endswith("P") or "P-" in cell_type else 6.5
    tree = _TreeBuilder(soma, soma_r, rng)
    up, down = np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    pyramidal = cell_type not in ("BC", "MC", "BPC", "NGC")
    if pyramidal:
        apical_len = max(soma[1] - 15.0, 40.0)
        tree.grow(0, up, apical_len, 3.0, 4, wiggle=0.05, taper=0.6, branch_every=60.0, start_offset=soma_r,
                  max_depth=1)
        for k in range(6):
            ang = 2 * np.pi * k / 6 + rng.uniform(-0.3, 0.3)
            d = np.array([np.cos(ang), rng.uniform(0.1, 0.6), np.sin(ang)])
            tree.grow(0, d, rng.uniform(90, 150), 1.6, 3, wiggle=0.2, branch_every=45.0, start_offset=soma_r)
        tree.grow(0, down, min(828.0 - soma[1] + 80, 400.0), 0.6, 2, wiggle=0.06, taper=0.2,
                  branch_every=70.0, start_offset=soma_r, max_depth=2)
    else:
        for k in range(7):
            d = rng.normal(0, 1, 3)
            tree.grow(0, d, rng.uniform(80, 140), 1.5, 3, wiggle=0.25, branch_every=50.0, start_offset=soma_r)
        for k in range(4):
            d = rng.normal(0, 1, 3)
            tree.grow(0, d, rng.uniform(150, 260), 0.5, 2, wiggle=0.3, taper=0.1, branch_every=30.0,
                      start_offset=soma_r, max_depth=3)
    v, e, r, c = tree.arrays()
    neuron = SyntheticNeuron(int(root_id), cell_type, soma, v, e, r, c)
    neuron.mesh_vertices, neuron.mesh_faces = tube_mesh(tree.paths, v, r, soma, soma_r)
    return neuron


def tube_mesh(paths: list[list[int]], vertices: np.ndarray, radius: np.ndarray, soma: np.ndarray,
              soma_radius: float, sides: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Tubes around each branch (a ring of ``sides`` vertices per skeleton vertex)
    plus a soma sphere, as one triangle mesh in µm."""
    all_v, all_f, offset = [], [], 0
    angles = 2 * np.pi * np.arange(sides) / sides
    for path in paths:
        pts = vertices[path]
        if len(pts) < 2:
            continue
        tangent = np.gradient(pts, axis=0)
        tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
        ref = np.where(np.abs(tangent[:, [1]]) < 0.9, [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
        n1 = np.cross(tangent, ref)
        n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
        n2 = np.cross(tangent, n1)
        r = np.maximum(radius[path], 0.4)[:, None, None]
        ring = (np.cos(angles)[None, :, None] * n1[:, None, :] + np.sin(angles)[None, :, None] * n2[:, None, :])
        verts = (pts[:, None, :] + r * ring).reshape(-1, 3)
        i = np.arange(len(pts) - 1)[:, None] * sides
        j = np.arange(sides)[None, :]
        a, b = i + j, i + (j + 1) % sides
        c, d = a + sides, b + sides
        faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([b, d, c], -1).reshape(-1, 3)])
        all_v.append(verts)
        all_f.append(faces + offset)
        offset += len(verts)
    sv, sf = _uv_sphere(soma, soma_radius)
    all_v.append(sv)
    all_f.append(sf + offset)
    return np.concatenate(all_v), np.concatenate(all_f).astype(np.int64)


def _uv_sphere(center, radius, n_lat: int = 12, n_lon: int = 18) -> tuple[np.ndarray, np.ndarray]:
    lat = np.linspace(0, np.pi, n_lat + 1)
    lon = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    v = np.stack([np.sin(la) * np.cos(lo), np.cos(la), np.sin(la) * np.sin(lo)], -1).reshape(-1, 3)
    i = np.arange(n_lat)[:, None] * n_lon
    j = np.arange(n_lon)[None, :]
    a, b = i + j, i + (j + 1) % n_lon
    c, d = a + n_lon, b + n_lon
    f = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
    return np.asarray(center, float) + radius * v, f.astype(np.int64)


def synthetic_synapses(neurons: list[SyntheticNeuron], units: pd.DataFrame, seed: int = 0,
                       n_inputs: int = 600, n_outputs: int = 250) -> pd.DataFrame:
    """Per-synapse rows: inputs on each neuron's dendrites, outputs on its axon.

    Partners are other units (mostly excitatory for inputs, as in cortex),
    drawn with a preference for nearby cells. Positions in 4x4x40 nm voxels
    (``ctr_pt_position_x/y/z``) as the synapse table serves them.
    """
    rng = np.random.default_rng(seed)
    neurons_only = units[units["classification_system"] != "nonneuron"]
    ids = neurons_only["pt_root_id"].to_numpy(dtype=np.int64)
    pos = neurons_only[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()
    exc = (neurons_only["classification_system"] == "excitatory_neuron").to_numpy()
    rows = []
    next_id = 1
    for nrn in neurons:
        dend = np.flatnonzero(np.isin(nrn.compartment, [3, 4]))
        axon = np.flatnonzero(nrn.compartment == 2)
        for kind, verts, n in (("input", dend, n_inputs), ("output", axon, n_outputs)):
            if len(verts) == 0:
                continue
            at = rng.choice(verts, n)
            where = nrn.vertices[at] + rng.normal(0, 0.6, (n, 3))
            # Partners near the synapse, favouring excitatory cells for inputs.
            dist = np.linalg.norm(pos[None, :, :] - where[: min(n, 64), None, :], axis=2).min(axis=0)
            weight = np.exp(-dist / 150.0) * np.where(exc, 4.0 if kind == "input" else 1.0, 1.0)
            weight[ids == nrn.root_id] = 0
            partner = rng.choice(ids, n, p=weight / weight.sum())
            size = np.rint(rng.lognormal(np.log(4000 if kind == "input" else 6000), 0.8, n)).astype(np.int64)
            pre = partner if kind == "input" else np.full(n, nrn.root_id)
            post = np.full(n, nrn.root_id) if kind == "input" else partner
            rows.append(pd.DataFrame({"id": np.arange(next_id, next_id + n, dtype=np.int64),
                                      "pre_pt_root_id": pre, "post_pt_root_id": post, "size": size,
                                      "x": where[:, 0], "y": where[:, 1], "z": where[:, 2]}))
            next_id += n
    syn = pd.concat(rows, ignore_index=True)
    vx = um_to_voxels(syn[["x", "y", "z"]].to_numpy())
    syn["ctr_pt_position_x"], syn["ctr_pt_position_y"], syn["ctr_pt_position_z"] = vx[:, 0], vx[:, 1], vx[:, 2]
    return syn.drop(columns=["x", "y", "z"])


def pick_showcase(units: pd.DataFrame) -> list[tuple[int, str, np.ndarray]]:
    """Proofread-looking neurons of the showcase types near the block's centre."""
    cx, cz = np.mean(X_RANGE), np.mean(Z_RANGE)
    chosen = []
    offsets = [(-60, -30), (40, 20), (-10, 60), (70, -50)]
    for (cell_type, depth), (dx, dz) in zip(SHOWCASE, offsets):
        cand = units[units["cell_type"] == cell_type]
        d = np.hypot(cand["pt_position_x"] - (cx + dx), cand["pt_position_z"] - (cz + dz)) + np.abs(cand["pt_position_y"] - depth)
        row = cand.loc[d.idxmin()]
        chosen.append((int(row["pt_root_id"]), cell_type,
                       row[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(dtype=float)))
    return chosen


# -- the whole sample ----------------------------------------------------------------
def is_sample(layout: Layout) -> bool:
    """Whether a data folder holds this synthetic sample (figures must say so)."""
    return (layout.root / MARKER_FILE).exists()


def _fingerprint(n_cells: int, seed: int) -> str:
    return hashlib.sha1(f"{SAMPLE_FORMAT}:{n_cells}:{seed}".encode()).hexdigest()[:12]


def make_sample(datadir: str | Path | None = None, n_cells: int = 30_000, seed: int = 0,
                version: int = SAMPLE_VERSION, force: bool = False) -> SampleInfo:
    """Generate the synthetic sample in ``datadir`` (default: a cache folder).

    Reuses a complete sample made by the same generator; otherwise writes the
    raw tables, processes them, imports synapses and fills the morphology
    cache through the real APIs. Returns where it is and the detailed neurons.
    """
    from .dataset import Dataset

    datadir = Path(datadir).expanduser() if datadir is not None else default_sample_dir()
    layout = Layout(datadir, version)
    marker = layout.root / MARKER_FILE
    fingerprint = _fingerprint(n_cells, seed)
    if marker.exists() and not force:
        try:
            info = read_json(marker)
            if info.get("fingerprint") == fingerprint and info.get("complete"):
                return SampleInfo(datadir, version, tuple(int(r) for r in info["root_ids"]))
        except Exception:  # noqa: BLE001 - a broken marker means: build again
            pass

    cells = synthetic_units(n_cells, seed)
    write_raw_tables(layout, raw_tables(cells))
    ds = Dataset(datadir, version=version)
    units, _layers = ds.process()

    showcase = pick_showcase(units)
    neurons = [build_neuron(root, ct, soma, seed=seed + i) for i, (root, ct, soma) in enumerate(showcase)]
    parts = {"units": True, "synapses": False, "morphology": False}
    parts["synapses"] = _add_synapses(ds, neurons, units, seed)
    parts["morphology"] = _add_morphology(ds, neurons)
    atomic_write_json(marker, {
        "synthetic": True,
        "description": "SYNTHETIC sample generated by napari_microns.core.sample; not MICrONS data",
        "fingerprint": fingerprint, "format": SAMPLE_FORMAT, "n_cells": n_cells, "seed": seed,
        "root_ids": [n.root_id for n in neurons], "cell_types": [n.cell_type for n in neurons],
        "parts": parts, "complete": True,
    })
    return SampleInfo(datadir, version, tuple(n.root_id for n in neurons))


def _add_synapses(ds, neurons: list[SyntheticNeuron], units: pd.DataFrame, seed: int) -> bool:
    if not hasattr(ds, "import_synapses"):
        log.warning("synapse store not available in this build; the sample has no synapses")
        return False
    ds.import_synapses(synthetic_synapses(neurons, units, seed))
    return True


def _add_morphology(ds, neurons: list[SyntheticNeuron]) -> bool:
    """Write skeletons and meshes as a ``file://`` precomputed layer (nm), register
    it as the dataset's morphology source and fill the cache through the API."""
    try:
        from . import morphology
    except ImportError:
        log.warning("morphology support not available in this build; the sample has no skeletons or meshes")
        return False
    url = morphology.write_precomputed_layer(
        ds.layout.root / "sample_precomputed",
        skeletons={n.root_id: {"vertices_nm": um_to_nm(n.vertices), "edges": n.edges,
                               "radius_nm": n.radius * 1000.0, "compartment": n.compartment}
                   for n in neurons},
        meshes={n.root_id: (um_to_nm(n.mesh_vertices), n.mesh_faces) for n in neurons},
    )
    morphology.write_sources(ds.layout, skeleton_source=url, mesh_source=url)
    for n in neurons:
        ds.skeleton(n.root_id)
        ds.mesh(n.root_id, max_faces=DISPLAY_MAX_FACES)
    return True
