"""Synthetic neurons and the ``file://`` precomputed layers that hold them.

The neurons are small but shaped like MICrONS cells: a soma vertex (root)
at a given nm position, a basal dendrite, an apical dendrite towards the pia
and an axon, each vertex with a radius and an SWC compartment; the mesh is a
sphere around the soma plus tubes along the branches. Layers are written by
cloud-volume's own writers through :func:`write_precomputed_layer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_microns.core.morphology import write_precomputed_layer

#: MICrONS-size uint64 root ids (above 2**63: they must survive every int conversion).
ROOT_IDS = [864691135101289504, 864691134918461194, 864691135774053371, 864691136000000001]
#: Soma positions in nm, inside minnie65 (x, y = depth-ish, z).
SOMAS_NM = np.array([
    [766_848.0, 547_712.0, 899_480.0],
    [700_000.0, 650_000.0, 850_000.0],
    [820_000.0, 480_000.0, 950_000.0],
    [900_000.0, 720_000.0, 800_000.0],
])


@dataclass
class FakeNeuron:
    root_id: int
    soma_nm: np.ndarray
    skeleton: dict  # the skeleton service's dict (skeleton version 4)
    mesh_vertices_nm: np.ndarray
    mesh_faces: np.ndarray

    @property
    def layer_skeleton(self) -> dict:
        """The arrays :func:`write_precomputed_layer` takes."""
        d = self.skeleton
        return dict(vertices_nm=np.asarray(d["vertices"]), edges=np.asarray(d["edges"]),
                    radius_nm=np.asarray(d["radius"]), compartment=np.asarray(d["compartment"]))


def make_neuron(root_id: int, soma_nm, seed: int = 0, branch_vertices: int = 12, mesh_subdivisions: int = 3) -> FakeNeuron:
    """A neuron whose skeleton root and mesh centre sit at ``soma_nm``."""
    import trimesh

    rng = np.random.default_rng(seed)
    soma = np.asarray(soma_nm, dtype=float)
    # the root comes last, like the skeleton service's dicts
    branches = [
        (3, np.array([1.0, 0.3, 0.2])),   # basal dendrite
        (3, np.array([-1.0, 0.4, -0.3])),  # basal dendrite
        (4, np.array([0.05, -1.0, 0.0])),  # apical: towards the pia (smaller y)
        (2, np.array([0.1, 1.0, 0.1])),    # axon: down
    ]
    verts, comps, radii, edges = [], [], [], []
    for code, direction in branches:
        direction = direction / np.linalg.norm(direction)
        start = len(verts)
        for i in range(branch_vertices):
            jitter = rng.normal(0, 200, 3)
            verts.append(soma + direction * 2_000.0 * (i + 3) + jitter)
            comps.append(code)
            radii.append(400.0 - 20 * i)
            # child -> parent; the branch's first vertex hangs on the root
            parent = start + i - 1 if i > 0 else None
            edges.append((start + i, parent))
    root = len(verts)
    verts.append(soma)
    comps.append(1)
    radii.append(7_500.0)
    edges = [(c, p if p is not None else root) for c, p in edges]
    verts = np.array(verts)
    skeleton = {
        "meta": {"root_id": int(root_id), "soma_pt_x": soma[0], "soma_pt_y": soma[1], "soma_pt_z": soma[2],
                 "skeleton_version": 4, "sk_dict_structure_version": 4},
        "vertices": verts.tolist(),
        "edges": [list(e) for e in edges],
        "root": root,
        "radius": radii,
        "compartment": comps,
        "lvl2_ids": (160_000_000_000_000_000 + np.arange(len(verts))).tolist(),
        "mesh_to_skel_map": np.arange(len(verts)).tolist(),
    }
    parts = [trimesh.creation.icosphere(subdivisions=mesh_subdivisions, radius=7_500.0)]
    parts[0].apply_translation(soma)
    for code, direction in branches:
        unit = direction / np.linalg.norm(direction)
        base, tip = soma + unit * 7_500.0, soma + unit * 2_000.0 * (branch_vertices + 2)
        parts.append(trimesh.creation.cylinder(radius=400.0, segment=[base, tip], sections=12))
    mesh = trimesh.util.concatenate(parts)
    return FakeNeuron(int(root_id), soma, skeleton, np.asarray(mesh.vertices), np.asarray(mesh.faces))


def make_neurons(n: int = 3) -> list[FakeNeuron]:
    return [make_neuron(ROOT_IDS[i], SOMAS_NM[i], seed=i) for i in range(n)]


def write_neuron_layer(path, neurons: list[FakeNeuron], mesh_format: str = "legacy", lods: int = 3) -> str:
    """A ``file://`` layer with the neurons' meshes and skeletons; returns its URL."""
    return write_precomputed_layer(
        path,
        meshes={n.root_id: (n.mesh_vertices_nm, n.mesh_faces) for n in neurons},
        skeletons={n.root_id: n.layer_skeleton for n in neurons},
        mesh_format=mesh_format,
        lods=lods,
    )


def big_mesh(n_faces: int = 1_000_000):
    """A closed mesh of about ``n_faces`` faces (a subdivided, bumpy sphere), in nm."""
    import trimesh

    # an icosphere at subdivision s has 20 * 4**s faces; pick the level just above and trim by a torus-ish bump
    level = int(np.ceil(np.log(n_faces / 20) / np.log(4)))
    sphere = trimesh.creation.icosphere(subdivisions=level, radius=10_000.0)
    verts = np.asarray(sphere.vertices)
    verts = verts * (1 + 0.1 * np.sin(verts[:, :1] / 700.0))  # some shape for the simplifier to keep
    faces = np.asarray(sphere.faces)[:n_faces]
    return verts + SOMAS_NM[0], faces
