"""One EM cutout: check the request, answer it from the on-disk cache, else read the image
(and the segmentation, resampled to the image grid) with cloud-volume and cache it.

The cache lives in ``<datadir>/<version>/em/<datastack>/<key>.npz``, written atomically under
the folder's lock with a checksum (the morphology cache's format). The key is made of the
request alone (source settings, centre, size, sections, mip, pixel budget), so a cache hit
opens no volume and needs no client.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..ids import parse_ids
from ..layout import Layout
from ..morphology.cache import MorphologyCache
from ..morphology.remote import Remote
from ..transform import um_to_nm
from . import volume as V
from .sources import resolve_image, resolve_segmentation
from .types import Cutout, voxel_affine

#: Bump when the cached arrays change meaning.
EM_CACHE_FORMAT = 1
#: The thickness of one EM section, nm (``z_sections`` counts these).
SECTION_NM = 40.0


def _number(value, name: str, *, integer: bool = False, minimum: float = 0.0, strict: bool = True):
    bad = isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
    if not bad:
        bad = not math.isfinite(float(value)) or (integer and float(value) != int(value))
        bad = bad or (float(value) <= minimum if strict else float(value) < minimum)
    if bad:
        kind = "a whole number" if integer else "a number"
        raise DataError(f"{name} must be {kind} {'>' if strict else '>='} {minimum:g}, not {value!r}")
    return int(value) if integer else float(value)


def check_center(center) -> tuple[float, float, float]:
    try:
        c = np.asarray(center, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        c = np.array([])
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise DataError(f"center must be three finite numbers (x, y, z) in pia-aligned µm, not {center!r}")
    return tuple(float(v) for v in c)


class CutoutRequest:
    """The checked arguments of one cutout and its cache key."""

    def __init__(self, center_um, size_um=10.0, z_sections=1, mip=None, segmentation=True, root_ids=None,
                 max_pixels=1024):
        self.center_um = check_center(center_um)
        self.size_um = _number(size_um, "size_um")
        self.z_sections = _number(z_sections, "z_sections", integer=True, minimum=1, strict=False)
        self.max_pixels = _number(max_pixels, "max_pixels", integer=True, minimum=1, strict=False)
        self.mip = None if mip is None else _number(mip, "mip", integer=True, minimum=0, strict=False)
        self.root_ids = [] if root_ids is None else [int(r) for r in parse_ids(root_ids)]
        self.with_segmentation = bool(segmentation) or bool(self.root_ids)
        self.segmentation = bool(segmentation)

    def key(self, image_spec: str, seg_spec: str, datastack: str, version: int) -> str:
        doc = dict(image=image_spec, segmentation=seg_spec if self.with_segmentation else None,
                   datastack=datastack, version=int(version), center=[round(v, 4) for v in self.center_um],
                   size_um=round(self.size_um, 6), z_sections=self.z_sections, mip=self.mip,
                   max_pixels=self.max_pixels, format=EM_CACHE_FORMAT)
        return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def cache_path(layout: Layout, datastack: str, key: str) -> Path:
    return layout.root / "em" / datastack / f"{key}.npz"


def _finish(req: CutoutRequest, image, seg, meta: dict) -> Cutout:
    masks = {rid: seg == np.uint64(rid) for rid in req.root_ids} if req.root_ids else {}
    res, origin = tuple(meta["resolution_nm"]), tuple(meta["origin_nm"])
    return Cutout(image=image, segmentation=seg if req.segmentation else None, masks=masks,
                  affine=voxel_affine(origin, res), resolution_nm=res, mip=int(meta["mip"]),
                  center_um=req.center_um, origin_nm=origin, image_source=meta["image_source"],
                  segmentation_source=meta.get("segmentation_source"), meta=meta)


def load_cached(path: Path, req: CutoutRequest) -> Cutout | None:
    hit = MorphologyCache.read(path)
    if hit is None:
        return None
    arrays, meta = hit
    if meta.get("kind") != "em_cutout" or (req.with_segmentation and "segmentation" not in arrays):
        return None
    seg = arrays.get("segmentation")
    return _finish(req, arrays["image"], None if seg is None else seg.astype(np.uint64, copy=False), meta)


def make_cutout(req: CutoutRequest, *, layout: Layout, datastack: str, version: int, remote: Remote,
                image_spec: str, seg_spec: str) -> Cutout:
    """The cutout for ``req``: from the cache, else read and cached."""
    path = cache_path(layout, datastack, req.key(image_spec, seg_spec, datastack, version))
    cached = load_cached(path, req)
    if cached is not None:
        return cached

    image_source = resolve_image(image_spec, lambda: remote.client())
    img_vol = remote.volume(image_source, lambda r, s: V.open_volume(r, s, "EM image"))
    mip = V.choose_mip(img_vol, req.size_um, req.max_pixels, req.mip, image_source)
    res = V.resolution(img_vol, mip)
    center_nm = um_to_nm(np.asarray(req.center_um))[0]
    c_vx = center_nm / res
    lo, hi = V.volume_bounds(img_vol, mip)
    if np.any(np.floor(c_vx) < lo) or np.any(np.floor(c_vx) >= hi):
        x, y, z = req.center_um
        raise DataError(f"the point ({x:.2f}, {y:.2f}, {z:.2f}) µm (nm {np.round(center_nm).astype(int).tolist()}) "
                        f"is outside the EM volume {image_source} ({V.bounds_text(img_vol, mip)}); pick a point inside it")
    n_xy = [V.pixels_for(req.size_um, res[0]), V.pixels_for(req.size_um, res[1])]
    n_z = max(1, int(round(req.z_sections * SECTION_NM / res[2])))
    start = np.array([math.floor(c_vx[0]) - n_xy[0] // 2, math.floor(c_vx[1]) - n_xy[1] // 2, 0], dtype=np.int64)
    start[2], z_stop = V.z_range(c_vx[2], n_z)
    stop = start + np.array([n_xy[0], n_xy[1], z_stop - start[2]])
    origin_nm = start * res
    image = V.read_box(remote, img_vol, start, stop, mip, what="EM image", source=image_source, dtype=np.uint8)

    seg, seg_source, seg_meta = None, None, {}
    if req.with_segmentation:
        seg, seg_source, seg_meta = _segmentation(remote, seg_spec, version, origin_nm, res, image.shape)
    meta = dict(kind="em_cutout", mip=mip, resolution_nm=res.tolist(), origin_nm=origin_nm.tolist(),
                box_vx=[start.tolist(), stop.tolist()], image_source=image_source, segmentation_source=seg_source,
                center_um=list(req.center_um), datastack=datastack, version=int(version), **seg_meta)
    arrays = {"image": image}
    if seg is not None:
        arrays["segmentation"] = seg
    MorphologyCache.write(path, arrays, meta)
    return _finish(req, image, seg, meta)


def _segmentation(remote: Remote, seg_spec: str, version: int, origin_nm, image_res, shape):
    """Root ids on the image grid: the segmentation box over the same nm, nearest-resampled."""
    source = resolve_segmentation(seg_spec, version, lambda: remote.client())
    vol = remote.volume(source, lambda r, s: V.open_volume(r, s, "segmentation"))
    if getattr(vol, "layer_type", "segmentation") != "segmentation":
        raise DataError(f"{source} is a {vol.layer_type} layer, not a segmentation; set segmentation_source")
    seg_mip = V.seg_mip_for(vol, image_res)
    seg_res = V.resolution(vol, seg_mip)
    idx, start, stop = V.resample_indices(np.asarray(origin_nm, np.float64), image_res, shape, seg_res)
    agglomerate, timestamp, extra = False, None, {}
    if source.startswith("graphene://"):
        client = remote.client(need_token_for=f"the segmentation source {source}")
        timestamp = remote.call(lambda: client.materialize.get_timestamp(int(version)),
                                what=f"the timestamp of version {version}", service="the CAVE materialization service")
        agglomerate, extra = True, {"timestamp": str(timestamp)}
    block = V.read_box(remote, vol, start, stop, seg_mip, what="segmentation", source=source, dtype=np.uint64,
                       agglomerate=agglomerate, timestamp=timestamp)
    seg = block[np.ix_(idx[0] - start[0], idx[1] - start[1], idx[2] - start[2])]
    extra.update(segmentation_mip=int(seg_mip), segmentation_resolution_nm=seg_res.tolist())
    return np.ascontiguousarray(seg, dtype=np.uint64), source, extra

