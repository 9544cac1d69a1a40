"""Your own morphology: skeletons (SWC, skeleton-service JSON) and meshes (.off/.ply/.obj) from files.

An imported skeleton or mesh goes into the morphology cache of a root id (the cache of
the current source), so ``Dataset.skeleton(root_id)`` / ``Dataset.mesh(root_id)`` and the
scene show it like a fetched one. Positions are read in ``units``:

* ``"nm"``: nanometres (the skeleton service's and the segmentation's frame);
* ``"um"``: napari-microns' pia-aligned µm frame (:mod:`..transform`; what the napari
  writers write), converted back to nm through the one transform;
* ``"voxel"``: 4x4x40 nm voxels (radii in x voxels, 4 nm).

Radii follow the position unit. Every bad file is a one-line :class:`DataError` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..ids import parse_id
from ..transform import VOXEL_RESOLUTION_NM, nm_to_um, um_to_nm
from .types import NeuronMesh

UNITS = ("nm", "um", "voxel")
SKELETON_SUFFIXES = (".swc", ".json")
MESH_SUFFIXES = (".off", ".ply", ".obj")
SWC_COLUMNS = ("id", "type", "x", "y", "z", "radius", "parent")


def check_units(units: str) -> str:
    if units not in UNITS:
        raise DataError(f"units must be one of {', '.join(UNITS)} (got {units!r})")
    return units


def to_nm(xyz, units: str) -> np.ndarray:
    """Positions in ``units`` -> nm, shape (N, 3)."""
    xyz = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    if units == "um":
        return um_to_nm(xyz)
    if units == "voxel":
        return xyz * VOXEL_RESOLUTION_NM
    return xyz


def radius_to_nm(radius, units: str) -> np.ndarray:
    scale = {"nm": 1.0, "um": 1000.0, "voxel": float(VOXEL_RESOLUTION_NM[0])}[units]
    return np.asarray(radius, dtype=np.float64) * scale


def kind_of(path) -> str:
    """``"skeleton"`` or ``"mesh"`` by the file's extension; anything else is a DataError."""
    suffix = Path(path).suffix.lower()
    if suffix in SKELETON_SUFFIXES:
        return "skeleton"
    if suffix in MESH_SUFFIXES:
        return "mesh"
    raise DataError(f"{path}: unknown morphology file type {suffix or '(no extension)'!r}; expected "
                    f"{', '.join(SKELETON_SUFFIXES + MESH_SUFFIXES)}")


# -- skeletons -------------------------------------------------------------------
def read_swc(path) -> dict:
    """An SWC file as the skeleton service's dict (positions and radii still in the file's unit)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=r"\s+", comment="#", header=None, dtype=str, engine="python")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no SWC rows (id type x y z radius parent)") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as SWC ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if table.shape[1] < 7 or table.iloc[:, :7].isna().any().any():
        raise DataError(f"{path}: an SWC row needs 7 columns (id type x y z radius parent), found {table.shape[1]}")
    table = table.iloc[:, :7]
    table.columns = SWC_COLUMNS
    try:
        num = table.apply(lambda col: pd.to_numeric(col, errors="raise")).to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: non-numeric SWC value ({exc})") from None
    if not np.isfinite(num).all():
        raise DataError(f"{path}: SWC values must be finite numbers")
    ids, parents = num[:, 0], num[:, 6]
    if (ids != np.round(ids)).any() or (parents != np.round(parents)).any():
        raise DataError(f"{path}: SWC ids and parents must be whole numbers")
    ids, parents = ids.astype(np.int64), parents.astype(np.int64)
    if len(np.unique(ids)) != len(ids):
        raise DataError(f"{path}: SWC node ids repeat")
    order = np.argsort(ids)
    has_parent = parents >= 0
    where = np.searchsorted(ids[order], parents[has_parent])
    where = np.clip(where, 0, len(ids) - 1)
    found = ids[order][where] == parents[has_parent]
    if not found.all():
        bad = parents[has_parent][~found][0]
        raise DataError(f"{path}: node {ids[has_parent][~found][0]} has parent {bad}, which is not a node of the file")
    child = np.flatnonzero(has_parent)
    edges = np.column_stack([child, order[where]]).astype(np.int64)
    roots = np.flatnonzero(~has_parent)
    if len(roots) == 0:
        raise DataError(f"{path}: no root node (a node with parent -1)")
    return dict(vertices=num[:, 2:5], edges=edges, radius=num[:, 5], compartment=num[:, 1].astype(np.int8),
                root=int(roots[0]))


def read_skeleton_json(path) -> dict:
    """A saved skeleton-service dict (``vertices``, ``edges``, optional ``radius``, ``compartment``, ``root``)."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as JSON ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if not isinstance(d, dict) or "vertices" not in d or "edges" not in d:
        raise DataError(f"{path}: not a skeleton-service dict (needs 'vertices' and 'edges')")
    return d


def skeleton_dict_nm(d: dict, units: str, origin: str) -> dict:
    """``d`` with vertices and radii converted to nm, checked (edges within the vertices)."""
    try:
        verts = np.asarray(d["vertices"], dtype=np.float64).reshape(-1, 3)
        edges = np.asarray(d["edges"], dtype=np.int64).reshape(-1, 2)
        radius = np.asarray(d.get("radius", np.zeros(len(verts))), dtype=np.float64).reshape(-1)
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{origin}: malformed skeleton ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if len(verts) == 0:
        raise DataError(f"{origin}: the skeleton has no vertices")
    if len(edges) and (edges.min() < 0 or edges.max() >= len(verts)):
        raise DataError(f"{origin}: an edge names a vertex the skeleton does not have")
    if not np.isfinite(verts).all():
        raise DataError(f"{origin}: vertex positions must be finite numbers")
    out = dict(d, vertices=to_nm(verts, units), edges=edges, radius=radius_to_nm(radius, units))
    meta = dict(d.get("meta") or {}) if isinstance(d.get("meta"), dict) else {}
    out["meta"] = dict(meta, imported_from=origin, imported_units=units)
    return out


def import_skeleton(morphology, path_or_dict, root_id, units: str = "nm"):
    """Put a skeleton from an SWC file, a skeleton-service JSON file or dict into the cache of
    ``root_id`` (through :meth:`Morphology.store_skeleton`) and return the ``NeuronSkeleton``."""
    root_id = parse_id(root_id)
    check_units(units)
    if isinstance(path_or_dict, dict):
        d, origin = path_or_dict, "skeleton dict"
    else:
        path = Path(path_or_dict)
        if kind_of(path) != "skeleton":
            raise DataError(f"{path}: not a skeleton file (expected .swc or .json)")
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        d = read_swc(path) if path.suffix.lower() == ".swc" else read_skeleton_json(path)
        origin = str(path)
    return morphology.store_skeleton(root_id, skeleton_dict_nm(d, units, origin))


# -- meshes ----------------------------------------------------------------------
def read_mesh(path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) of a .off/.ply/.obj file read by trimesh (in the file's unit)."""
    import trimesh

    path = Path(path)
    if kind_of(path) != "mesh":
        raise DataError(f"{path}: not a mesh file (expected {', '.join(MESH_SUFFIXES)})")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
        verts = np.asarray(loaded.vertices, dtype=np.float64).reshape(-1, 3)
        faces = np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds on a bad file
        raise DataError(f"{path}: cannot read as a mesh ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if len(verts) == 0 or len(faces) == 0:
        raise DataError(f"{path}: the mesh is empty (no vertices or no faces)")
    if faces.min() < 0 or faces.max() >= len(verts) or not np.isfinite(verts).all():
        raise DataError(f"{path}: the mesh's faces name vertices it does not have, or positions are not finite")
    return verts, faces


def import_mesh(morphology, path, root_id, units: str = "nm") -> NeuronMesh:
    """Put a mesh from a .off/.ply/.obj file into the cache of ``root_id`` and return it; it then
    answers every request for that root id (decimated to a face budget when one is asked)."""
    root_id = parse_id(root_id)
    check_units(units)
    verts, faces = read_mesh(path)
    nm = to_nm(verts, units)
    um = verts.copy() if units == "um" else nm_to_um(nm)
    mesh = NeuronMesh(root_id, nm.astype(np.float32), um.astype(np.float32), faces.astype(np.int32),
                      lod=None, source=morphology.sources.mesh, n_faces_source=len(faces),
                      meta={"imported_from": str(path), "imported_units": units})
    morphology.cache.drop_meshes(root_id, mesh.source)  # earlier fetches (other budgets) must not answer first
    morphology.cache.save_mesh(mesh, None, None, imported=str(path))
    return mesh


def import_file(morphology, path, root_id, units: str = "nm") -> str:
    """A skeleton (.swc, .json) or mesh (.off, .ply, .obj) file, by its extension, into the cache
    of ``root_id``; returns the kind."""
    kind = kind_of(path)
    (import_skeleton if kind == "skeleton" else import_mesh)(morphology, path, root_id, units=units)
    return kind
