"""SYNTHETIC neurons: tree skeletons and tube meshes of the showcase cells, written
as a ``file://`` precomputed layer (what cloud-volume reads) for the morphology API."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.transform import um_to_nm
from ..layer_data import DISPLAY_MAX_FACES
from .tables import X_RANGE, Z_RANGE

log = logging.getLogger(__name__)

#: The neurons that get skeletons, meshes and synapses: (cell type, target depth).
SHOWCASE = [("23P", 150.0), ("5P-ET", 470.0), ("4P", 300.0), ("BC", 330.0)]


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
    sv, sf = uv_sphere(soma, soma_radius)
    all_v.append(sv)
    all_f.append(sf + offset)
    return np.concatenate(all_v), np.concatenate(all_f).astype(np.int64)


def uv_sphere(center, radius, n_lat: int = 12, n_lon: int = 18) -> tuple[np.ndarray, np.ndarray]:
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


def add_morphology(ds, neurons: list[SyntheticNeuron]) -> bool:
    """Write skeletons and meshes as a ``file://`` precomputed layer (nm), register
    it as the dataset's morphology source and fill the cache through the API."""
    try:
        from ..core import morphology
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
