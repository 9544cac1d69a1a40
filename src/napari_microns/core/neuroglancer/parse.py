"""Neuroglancer in: the neurons, points and camera of a Neuroglancer state.

Accepts a link with the state in its fragment (``#!{...}``, URL-encoded or not), a state
as JSON text or a dict, a file holding either, and a CAVE short link
(``https://HOST/nglstate/api/v1/ID``, alone or behind ``#!middleauth+`` / ``?json_url=``),
which is fetched with the client's state service: the CAVE token goes only to that host.
Coordinates are read in the state's own ``dimensions`` (4x4x40 nm, 8x8x40 nm, ...) and
converted to 4x4x40 nm voxels, then to pia-aligned µm.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AuthError, DataError

_SHORT = re.compile(r"^(?:middleauth\+)?(https?://[^/?#\s]+)/nglstate/(?:api/v\d+/)?(?:raw/)?(\d+)/?$", re.IGNORECASE)
_SEGMENTATION_TYPES = ("segmentation", "segmentation_with_graph")
_ANNOTATION_TYPES = ("annotation", "pointAnnotation")
_UNIT_NM = {"m": 1e9, "mm": 1e6, "um": 1e3, "µm": 1e3, "nm": 1.0}
VOXEL_NM = np.array([4.0, 4.0, 40.0])
POINT_COLUMNS = ["x", "y", "z", "layer", "description", "segments"]


@dataclass
class ParsedState:
    """What a Neuroglancer state shows: ``root_ids`` (int64, the selected segments of its
    segmentation layers, in order, without repeats or hidden ones), ``points`` (x, y, z in
    pia-aligned µm, the annotation ``layer``, ``description`` and linked ``segments``),
    ``position_um`` (the camera, or None), ``layout`` and the whole ``state``."""

    state: dict
    root_ids: np.ndarray
    points: pd.DataFrame
    position_um: np.ndarray | None
    layout: Any


def _short(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _json(text: str) -> dict:
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"the Neuroglancer state is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(state, dict):
        raise DataError(f"the Neuroglancer state is a JSON {type(state).__name__}, not an object")
    return state


def load_state(source, client=None) -> dict:
    """The state dict of a link, JSON text, dict, file or CAVE short link (see the module doc)."""
    if isinstance(source, dict):
        return source
    if isinstance(source, os.PathLike):
        return load_state(_read(Path(source)), client)
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    if not isinstance(source, str):
        raise DataError(f"a Neuroglancer state is a link, JSON text, a dict or a file, not {type(source).__name__}")
    text = source.strip()
    if not text:
        raise DataError("the Neuroglancer link or state is empty")
    if text.startswith("{"):
        return _json(text)
    if "://" not in text and len(text) < 4096 and Path(text).expanduser().is_file():
        return load_state(_read(Path(text).expanduser()), client)
    if "#!" in text:
        fragment = text.split("#!", 1)[1]
    elif "json_url=" in text:
        fragment = urllib.parse.unquote(text.split("json_url=", 1)[1].split("&", 1)[0])
    else:
        fragment = text
    if fragment.startswith("{"):
        try:
            return _json(fragment)
        except DataError:
            pass  # a state quoted only in part: decode it as neuroglancer does
    decoded = urllib.parse.unquote(fragment).strip()
    if decoded.startswith("{"):
        return _json(decoded)
    match = _SHORT.match(decoded)
    if match:
        return fetch_short_link(match.group(1), int(match.group(2)), client)
    if "://" in text and "#" not in text:
        raise DataError(f"{_short(text)} holds no Neuroglancer state (no #!{{...}} or short link after it)")
    raise DataError(f"{_short(text)} is neither a Neuroglancer link, a state (JSON), a file nor a CAVE short link")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the Neuroglancer state in {path}: {exc}") from None


def fetch_short_link(server: str, state_id: int, client) -> dict:
    """The state ``state_id`` of the CAVE state server at ``server`` (``https://HOST``), fetched
    with ``client.state``; the token goes to that host only when it is the client's own state
    server or a host the user allows (:data:`~..credentials.TOKEN_HOSTS_ENV`)."""
    from ..credentials import TOKEN_HOSTS_ENV, user_token_hosts
    from ..session import TOKEN_HELP, call_with_retry

    link = f"{server}/nglstate/api/v1/{state_id}"
    if client is None:
        raise AuthError(f"{link} is a CAVE short link; fetching it needs a CAVE token: sign in ({TOKEN_HELP}) "
                        "and pass the client")
    want = urllib.parse.urlsplit(server)
    own = urllib.parse.urlsplit(str(client.state.server_address))
    same = (want.hostname or "").lower() == (own.hostname or "").lower() and want.port == own.port
    if same:  # asked of the client's own server, over its own scheme
        fetch = lambda: client.state.get_state_json(state_id)  # noqa: E731
    elif any(h == (want.hostname or "").lower() and (p is None or p == want.port) for h, p in user_token_hosts()):
        fetch = lambda: client.state.get_state_json(link)  # noqa: E731 - a host the user allows
    else:
        host = want.netloc
        raise AuthError(f"refusing to send your CAVE token to {host} for the short link {link}: it is not the "
                        f"client's state server ({own.netloc}); if you trust that host, allow it in your own "
                        f"environment: {TOKEN_HOSTS_ENV}={host}")
    state = call_with_retry(fetch, what=f"the Neuroglancer state {state_id}", service="the CAVE state server")
    if not isinstance(state, dict):
        raise DataError(f"the CAVE state server sent a JSON {type(state).__name__} for {link}, not a state")
    return state


def _scales_nm(dimensions, where: str) -> np.ndarray:
    """x, y, z scales in nm of a Neuroglancer ``dimensions`` object."""
    if not isinstance(dimensions, dict):
        raise DataError(f"{where}: the state's dimensions are not an object of x, y, z")
    out = []
    for axis in "xyz":
        entry = dimensions.get(axis)
        try:
            scale, unit = float(entry[0]), str(entry[1])
            out.append(round(scale * _UNIT_NM[unit], 6))
        except (TypeError, ValueError, IndexError, KeyError):
            raise DataError(f"{where}: dimension {axis!r} is {entry!r}, not [scale, 'm']") from None
    return np.array(out)


def _layers(state: dict) -> list[dict]:
    layers = state.get("layers", [])
    if isinstance(layers, dict):  # the old form: {name: layer}
        layers = [dict(v, name=k) for k, v in layers.items() if isinstance(v, dict)]
    if not isinstance(layers, list):
        raise DataError("the state's layers are neither a list nor an object")
    return [layer for layer in layers if isinstance(layer, dict)]


def _pose(state: dict, key: str):
    """``navigation.pose.position[key]`` of a seunglab state, or None."""
    value = state
    for step in ("navigation", "pose", "position", key):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def _xyz(value, what: str) -> np.ndarray:
    try:
        xyz = np.asarray(value, dtype=float).reshape(-1)[:3]
    except (TypeError, ValueError):
        xyz = np.empty(0)
    if xyz.shape != (3,) or not np.isfinite(xyz).all():
        raise DataError(f"{what} {_short(repr(value))} is not x, y, z")
    return xyz


def _global_scales(state: dict) -> np.ndarray:
    if "dimensions" in state:
        return _scales_nm(state["dimensions"], "the state")
    size = _pose(state, "voxelSize")
    if size is not None:  # the seunglab form: voxelSize in nm
        return _xyz(size, "the state's voxelSize")
    raise DataError("the state has no dimensions (e.g. {\"x\": [4e-9, \"m\"], ...}): its coordinates cannot be read")


def _layer_scales(layer: dict, default: np.ndarray) -> np.ndarray:
    sources = layer.get("source")
    for source in sources if isinstance(sources, list) else [sources]:
        if isinstance(source, dict):
            out = (source.get("transform") or {}).get("outputDimensions")
            if out is not None:
                return _scales_nm(out, f"annotation layer {layer.get('name')!r}")
    if layer.get("voxelSize") is not None:
        return _xyz(layer["voxelSize"], f"annotation layer {layer.get('name')!r}: voxelSize")
    return default


def _root_ids(layers: list[dict]) -> np.ndarray:
    from ..ids import parse_ids

    seen: list = []
    for layer in layers:
        hidden = {str(s).strip() for s in layer.get("hiddenSegments", []) or []}
        for s in layer.get("segments", []) or []:
            text = str(s).strip()
            if not text.startswith("!") and text not in hidden:
                seen.append(text)
    return parse_ids(seen, "segment id", where="the state's segments", unique=True)


def _points(layers: list[dict], scales: np.ndarray) -> pd.DataFrame:
    from ..ids import parse_ids
    from ..transform import voxels_to_um

    xyz, meta = [], []
    for layer in layers:
        factor = _layer_scales(layer, scales) / VOXEL_NM
        for anno in layer.get("annotations", []) or []:
            if not isinstance(anno, dict) or anno.get("type") != "point" or "point" not in anno:
                continue
            xyz.append(_xyz(anno["point"], f"annotation layer {layer.get('name')!r}: point") * factor)
            segs = anno.get("segments") or []
            flat = [str(s).lstrip("!") for group in segs for s in (group if isinstance(group, list) else [group])]
            linked = tuple(int(i) for i in parse_ids(flat, "segment id", where=f"annotation layer {layer.get('name')!r}"))
            meta.append((layer.get("name"), anno.get("description"), linked))
    if not xyz:
        return pd.DataFrame({c: pd.Series(dtype=float if c in "xyz" else object) for c in POINT_COLUMNS})
    um = voxels_to_um(np.vstack(xyz))
    table = pd.DataFrame(um, columns=["x", "y", "z"])
    table["layer"], table["description"], table["segments"] = zip(*meta)
    return table


def parse_neuroglancer(url_or_json, client=None) -> ParsedState:
    """Read a Neuroglancer link, state (JSON text, dict or file) or CAVE short link; see :class:`ParsedState`."""
    from ..transform import voxels_to_um

    state = load_state(url_or_json, client)
    layers = _layers(state)
    segmentation = [layer for layer in layers if layer.get("type") in _SEGMENTATION_TYPES]
    if not segmentation:
        raise DataError("the Neuroglancer state has no segmentation layer, so no neurons to read")
    scales = _global_scales(state)
    position = state.get("position")
    if position is None:
        position = _pose(state, "voxelCoordinates")
    position_um = None
    if position is not None:
        position_um = voxels_to_um(_xyz(position, "the state's position") * scales / VOXEL_NM)[0]
    points = _points([layer for layer in layers if layer.get("type") in _ANNOTATION_TYPES], scales)
    return ParsedState(state=state, root_ids=_root_ids(segmentation), points=points, position_um=position_um,
                       layout=state.get("layout"))
