"""Write ``file://`` precomputed segmentation layers (meshes and skeletons).

Used by the synthetic sample generator and the tests: a data folder can carry
its own morphology source (see ``sources.json`` in :mod:`.sources`) that
cloud-volume reads exactly like the public MICrONS layers.

Two mesh formats are written:

* ``"legacy"``: neuroglancer's single-resolution precomputed meshes, written
  by cloud-volume's own ``vol.mesh.put``;
* ``"multires"``: the sharded multi-resolution Draco format of MICrONS' static
  ``seg_m1300`` layer. cloud-volume reads it but has no writer, so the layer
  is assembled from cloud-volume's manifest and sharding helpers and
  ``DracoPy.encode`` (one fragment per level of detail; each coarser level is
  a quadric decimation of the one before).

Skeletons are always written with cloud-volume's ``vol.skeleton.upload``;
radius and compartment (SWC code) travel as the ``radius`` and
``vertex_types`` vertex attributes, which cloud-volume reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..layout import atomic_write_bytes, atomic_write_json
from .decimation import SIMPLIFY_LOCK

#: Sharding of the multi-resolution mesh layer (raw data: fragments are range-read).
_SHARDING = {
    "@type": "neuroglancer_uint64_sharded_v1",
    "preshift_bits": 0,
    "hash": "murmurhash3_x86_128",
    "minishard_bits": 2,
    "shard_bits": 1,
    "minishard_index_encoding": "gzip",
    "data_encoding": "raw",
}
_QUANTIZATION_BITS = 16


def file_url(path: str | Path) -> str:
    """``precomputed://file:///abs/path`` for a local folder."""
    return "precomputed://" + Path(path).expanduser().resolve().as_uri()


def write_precomputed_layer(
    path: str | Path,
    meshes: Mapping[int, tuple] | None = None,
    skeletons: Mapping[int, Mapping] | None = None,
    *,
    mesh_format: str = "legacy",
    lods: int = 3,
    resolution_nm=(4, 4, 40),
    volume_size_vx=(250_000, 200_000, 7_000),
) -> str:
    """Write a precomputed segmentation layer holding meshes and skeletons.

    Parameters
    ----------
    path
        Folder of the layer (created).
    meshes
        ``{root_id: (vertices_nm (N, 3), faces (M, 3))}``.
    skeletons
        ``{root_id: {"vertices_nm", "edges", "radius_nm", "compartment"}}``
        (radius and compartment optional). Put the root (soma) vertex first
        among the compartment-1 vertices: readers take the first soma vertex
        as the root.
    mesh_format
        ``"legacy"`` (cloud-volume's writer) or ``"multires"`` (sharded
        multi-resolution Draco, like MICrONS' ``seg_m1300``).
    lods
        Levels of detail for ``"multires"``.

    Returns the layer's cloud-volume URL (``precomputed://file:///...``), ready
    for ``sources.json`` or ``Dataset(mesh_source=..., skeleton_source=...)``.
    """
    from cloudvolume import CloudVolume

    if mesh_format not in ("legacy", "multires"):
        raise ValueError(f"mesh_format must be 'legacy' or 'multires', not {mesh_format!r}")
    path = Path(path).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    url = file_url(path)
    info = CloudVolume.create_new_info(
        num_channels=1, layer_type="segmentation", data_type="uint64", encoding="raw",
        resolution=list(resolution_nm), voxel_offset=[0, 0, 0], volume_size=list(volume_size_vx),
        chunk_size=[256, 256, 32], mesh="mesh", skeletons="skeleton",
    )
    vol = CloudVolume(url, info=info, compress=False, progress=False)
    vol.commit_info()
    vol.skeleton.meta.commit_info()

    for root_id, sk in (skeletons or {}).items():
        vol.skeleton.upload(_cv_skeleton(int(root_id), sk))

    if meshes:
        if mesh_format == "legacy":
            from cloudvolume import Mesh

            for root_id, (verts, faces) in meshes.items():
                vol.mesh.put(Mesh(np.asarray(verts, np.float32), np.asarray(faces, np.uint32), segid=int(root_id)),
                             compress=False)
        else:
            _write_multires_meshes(path / "mesh", meshes, lods)
    return url


def _cv_skeleton(root_id: int, sk: Mapping):
    from cloudvolume import Skeleton

    verts = np.asarray(sk["vertices_nm"], dtype=np.float32)
    n = len(verts)
    radius = np.asarray(sk.get("radius_nm", np.zeros(n)), dtype=np.float32)
    compartment = np.asarray(sk.get("compartment", np.zeros(n)), dtype=np.uint8)
    return Skeleton(verts, np.asarray(sk["edges"], dtype=np.uint32), radii=radius,
                    vertex_types=compartment, segid=root_id)


def _write_multires_meshes(mesh_dir: Path, meshes: Mapping[int, tuple], lods: int) -> None:
    import DracoPy
    import fast_simplification
    from cloudvolume.datasource.precomputed.mesh.multilod import MultiLevelPrecomputedMeshManifest
    from cloudvolume.datasource.precomputed.sharding import ShardingSpecification, synthesize_shard_files

    spec = ShardingSpecification.from_dict(_SHARDING)
    quant_max = 2**_QUANTIZATION_BITS - 1
    data: dict[int, bytes] = {}
    manifest_sizes: dict[int, int] = {}
    for root_id, (verts, faces) in meshes.items():
        verts = np.asarray(verts, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64)
        origin = verts.min(axis=0)
        # lod 0 chunk spans the bounding box; lod l chunks are 2**l bigger
        chunk = np.maximum(verts.max(axis=0) - origin, 1.0) * 1.001
        fragments = []
        level_v, level_f = verts, faces
        for lod in range(lods):
            if lod > 0 and len(level_f) > 8:
                with SIMPLIFY_LOCK:
                    level_v, level_f = fast_simplification.simplify(level_v, level_f, target_reduction=0.5)
            stored = np.round((level_v - origin) / (chunk * 2**lod) * quant_max)
            fragments.append(DracoPy.encode(
                stored.astype(np.float32), np.asarray(level_f, np.uint32),
                quantization_bits=_QUANTIZATION_BITS, quantization_range=quant_max,
                quantization_origin=[0.0, 0.0, 0.0],
            ))
        manifest = MultiLevelPrecomputedMeshManifest(
            segment_id=int(root_id), chunk_shape=chunk, grid_origin=origin, num_lods=lods,
            lod_scales=[2.0**i for i in range(lods)], vertex_offsets=np.zeros((lods, 3)),
            num_fragments_per_lod=[1] * lods,
            fragment_positions=[np.zeros((1, 3), dtype=np.uint32) for _ in range(lods)],
            fragment_offsets=[len(f) for f in fragments],
        ).to_binary()
        # the shard index points at the manifest; the fragments sit right before it
        data[int(root_id)] = b"".join(fragments) + manifest
        manifest_sizes[int(root_id)] = len(manifest)
    mesh_dir.mkdir(parents=True, exist_ok=True)
    for name, binary in synthesize_shard_files(spec, data, manifest_sizes).items():
        atomic_write_bytes(mesh_dir / name, binary)
    atomic_write_json(mesh_dir / "info", {
        "@type": "neuroglancer_multilod_draco",
        "vertex_quantization_bits": _QUANTIZATION_BITS,
        "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0],
        "lod_scale_multiplier": 1.0,
        "sharding": _SHARDING,
    })
