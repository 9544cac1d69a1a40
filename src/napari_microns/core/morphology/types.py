"""What the morphology code returns: :class:`NeuronSkeleton` and :class:`NeuronMesh`.

Both hold their vertices in nm (as served) and in the pia-aligned µm frame of
:mod:`..transform` (the frame of the units table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import DataError
from ..transform import nm_to_um

#: Skeleton-service skeleton version (radius + compartments, soma collapsed).
SKELETON_VERSION = 4
#: The source name meaning "the datastack's CAVE default" (skeleton service / segmentation source).
CAVE = "cave"

SWC_SOMA, SWC_AXON, SWC_BASAL, SWC_APICAL = 1, 2, 3, 4


@dataclass(eq=False)
class NeuronSkeleton:
    """A neuron's skeleton in nm and in the units' pia-aligned µm frame.

    ``compartment`` holds SWC codes (1 soma, 2 axon, 3 basal dendrite,
    4 apical dendrite, 0 unknown); ``root`` is the index of the soma vertex.
    """

    root_id: int
    vertices_nm: np.ndarray  # (N, 3) float64
    vertices_um: np.ndarray  # (N, 3) float64, pia-aligned (y = depth)
    edges: np.ndarray  # (M, 2) int64, child -> parent
    radius_nm: np.ndarray  # (N,) float64
    compartment: np.ndarray  # (N,) int8 SWC codes
    root: int
    source: str = CAVE
    lvl2_ids: np.ndarray | None = None
    mesh_to_skel_map: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices_nm)

    @property
    def soma_um(self) -> np.ndarray:
        """The root (soma) vertex in pia-aligned µm."""
        return self.vertices_um[self.root]

    @property
    def radius_um(self) -> np.ndarray:
        return self.radius_nm / 1000.0

    @cached_property
    def skeleton(self):
        """The meshparty ``Skeleton`` (nm), with ``compartment`` as a vertex property."""
        from meshparty.skeleton import Skeleton

        return Skeleton(
            self.vertices_nm, self.edges, root=int(self.root), radius=self.radius_nm,
            mesh_to_skel_map=self.mesh_to_skel_map,
            vertex_properties={"compartment": self.compartment.astype(int)},
            remove_zero_length_edges=False, meta={"root_id": int(self.root_id)},
        )

    def meshparty(self):
        """Same as :attr:`skeleton`."""
        return self.skeleton

    def __repr__(self) -> str:
        return f"NeuronSkeleton(root_id={self.root_id}, n_vertices={self.n_vertices}, source={self.source!r})"


@dataclass(eq=False)
class NeuronMesh:
    """A neuron's surface mesh in nm and in the units' pia-aligned µm frame."""

    root_id: int
    vertices_nm: np.ndarray  # (N, 3) float32
    vertices_um: np.ndarray  # (N, 3) float32
    faces: np.ndarray  # (M, 3) int32
    lod: int | None = None  # level of detail read (None: single-resolution source)
    source: str = CAVE
    n_faces_source: int = 0  # faces before decimation
    meta: dict = field(default_factory=dict)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    def trimesh(self, um: bool = False):
        """A ``trimesh.Trimesh`` (nm, or µm with ``um=True``)."""
        import trimesh

        return trimesh.Trimesh(self.vertices_um if um else self.vertices_nm, self.faces, process=False)

    def meshparty(self):
        """A meshparty ``trimesh_io.Mesh`` in nm."""
        from meshparty.trimesh_io import Mesh

        return Mesh(self.vertices_nm, self.faces, process=False)

    def __repr__(self) -> str:
        return f"NeuronMesh(root_id={self.root_id}, n_faces={self.n_faces}, lod={self.lod}, source={self.source!r})"


def skeleton_from_dict(root_id: int, d: dict, source: str = CAVE) -> NeuronSkeleton:
    """A :class:`NeuronSkeleton` from the skeleton service's dict (skeleton version 4)."""
    try:
        verts = np.asarray(d["vertices"], dtype=np.float64).reshape(-1, 3)
        edges = np.asarray(d["edges"], dtype=np.int64).reshape(-1, 2)
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"skeleton of root id {root_id} from {source} is malformed ({type(exc).__name__}: {exc})") from None
    n = len(verts)
    radius = np.asarray(d.get("radius", np.zeros(n)), dtype=np.float64)
    compartment = np.asarray(d.get("compartment", np.zeros(n)), dtype=np.int8)
    root = d.get("root")
    if root is None:
        root = guess_root(compartment, radius)
    optional = {k: np.asarray(d[k], dtype=np.int64) for k in ("lvl2_ids", "mesh_to_skel_map") if k in d}
    meta = d.get("meta") if isinstance(d.get("meta"), dict) else {}
    return make_skeleton(root_id, verts, edges, radius, compartment, int(root), source, meta=meta, **optional)


def guess_root(compartment: np.ndarray, radius: np.ndarray) -> int:
    """The first soma vertex, else the widest one (sources that name no root)."""
    soma = np.flatnonzero(compartment == SWC_SOMA)
    if len(soma):
        return int(soma[0])
    return int(np.argmax(radius)) if len(radius) else 0


def make_skeleton(root_id, verts, edges, radius, compartment, root, source, meta=None,
                  lvl2_ids=None, mesh_to_skel_map=None, vertices_um=None) -> NeuronSkeleton:
    """A checked :class:`NeuronSkeleton` (µm computed from nm unless given)."""
    n = len(verts)
    if len(radius) != n or len(compartment) != n or (n and not 0 <= root < n) or (len(edges) and edges.max() >= n):
        raise DataError(f"skeleton of root id {root_id} from {source} is inconsistent (vertex, radius, edge counts differ)")
    return NeuronSkeleton(
        root_id=int(root_id), vertices_nm=verts, vertices_um=nm_to_um(verts) if vertices_um is None else vertices_um,
        edges=edges, radius_nm=radius, compartment=compartment, root=int(root), source=source,
        lvl2_ids=lvl2_ids, mesh_to_skel_map=mesh_to_skel_map, meta=meta or {},
    )
