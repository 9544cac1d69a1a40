"""Neuroglancer out: a state of chosen neurons, their synapses and the EM, built offline.

The state is made with nglui 4.x's statebuilder (``infer_coordinates=False``: nothing is
read over the network) in 4x4x40 nm voxels, the unit of MICrONS annotation positions.
Two things are set on the built JSON after nglui: annotation points and the camera keep
the store's float64 voxel positions (nglui rounds them to float32), and the segment ids
linked to annotations are written as strings (nglui writes them as JSON numbers, which
JavaScript reads as doubles: ids above 2**53 would change in the viewer).
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AuthError, DataError, MicronsError
from ..versions import flat_segmentations

#: The EM imagery of minnie65 (public, no token).
EM_IMAGE_SOURCE = "precomputed://https://bossdb-open-data.s3.amazonaws.com/iarpa_microns/minnie/minnie65/em"
#: Flat (static) segmentations by materialization version (public, no token; from the version registry).
FLAT_SEGMENTATIONS = flat_segmentations()
#: The dynamic segmentation of minnie65_public (needs the CAVE token; shows the newest root ids).
GRAPHENE_SEGMENTATION = "graphene://https://minnie.microns-daf.com/segmentation/table/minnie65_public"
DEFAULT_BASE = "https://spelunker.cave-explorer.org/"
VOXEL_NM = [4, 4, 40]
SYNAPSE_CHOICES = ("both", "inputs", "outputs")
GROUP_CHOICES = ("direction", "cell_type")
SEGMENTATION_LAYER = "segmentation"
#: neuroglancer's own quoting of a state in a URL fragment (neuroglancer.url_state)
_URL_SAFE = "~@#$&()*!+=:;,.?/'"


@dataclass
class NeuroglancerState:
    """A Neuroglancer state: ``.state`` (dict), :meth:`json`, :meth:`url`, :meth:`shorten`.

    ``segment_properties``: the chosen cells' labels (cell type, layer, brain area) as a
    Neuroglancer segment-properties ``info`` dict, or None. A state cannot hold them inline:
    :meth:`shorten` uploads them to the CAVE state server and adds them to the segmentation
    layer; the long URL goes without them. ``notes``: what was left out, and why.
    """

    state: dict
    segment_properties: dict | None = None
    notes: list[str] = field(default_factory=list)

    def json(self, indent: int | None = 2) -> str:
        return json.dumps(self.state, indent=indent)

    def url(self, base: str = DEFAULT_BASE) -> str:
        """A long link with the whole state in its fragment (``#!{...}``, URL-encoded)."""
        text = json.dumps(self.state, separators=(",", ":"))
        return f"{base}#!{urllib.parse.quote(text, safe=_URL_SAFE)}"

    def shorten(self, client, base: str = DEFAULT_BASE) -> str:
        """Upload the state (and the segment properties) to CAVE's state server; the short link.

        The token goes only to the client's own state server (caveclient's ``client.state``).
        """
        from ..session import TOKEN_HELP, call_with_retry

        if client is None or not getattr(getattr(client, "auth", None), "token", None):
            raise AuthError(f"shortening a link uploads the state to CAVE and needs a CAVE token: {TOKEN_HELP}")
        state = json.loads(json.dumps(self.state))
        if self.segment_properties is not None:
            prop_id = call_with_retry(lambda: client.state.upload_property_json(self.segment_properties),
                                      what="the segment properties", service="the CAVE state server")
            url = client.state.build_neuroglancer_url(prop_id, ngl_url=base, target_site="spelunker",
                                                      format_properties=True)
            for layer in state["layers"]:
                if layer.get("name") == SEGMENTATION_LAYER:
                    layer["source"] = list(layer["source"]) + [url]
        state_id = call_with_retry(lambda: client.state.upload_state_json(state), what="the Neuroglancer state",
                                   service="the CAVE state server")
        return client.state.build_neuroglancer_url(state_id, ngl_url=base, target_site="spelunker")


def hex_color(color) -> str:
    """``'#rrggbb'`` from ``'#rrggbb'``, a colour name, or an RGB(A) tuple in 0..1 (alpha dropped)."""
    from nglui.statebuilder.utils import parse_color

    if isinstance(color, (tuple, list, np.ndarray)) and len(color) == 4:
        color = tuple(color[:3])
    try:
        return parse_color(color)
    except (ValueError, TypeError) as exc:
        raise MicronsError(f"colour {color!r} is not a colour: {exc}") from None


def default_sources(version: int, datastack: str, client=None, image: str | None = None,
                    segmentation: str | None = None) -> tuple[str, str]:
    """``(image, segmentation)`` without the network: the dataset's own sources when it names
    them (``image``, ``segmentation``; ``"cave"`` or None: the datastack's defaults), else the
    version's flat segmentation, else the graphene segmentation of a client already made, else
    minnie65_public's graphene segmentation."""
    if not image or image == "cave":
        image = client.info.image_source() if client is not None else EM_IMAGE_SOURCE
    if segmentation and segmentation != "cave":
        return image, segmentation
    if datastack == "minnie65_public" and int(version) in FLAT_SEGMENTATIONS:
        return image, FLAT_SEGMENTATIONS[int(version)]
    if client is not None:
        return image, client.info.segmentation_source()
    if datastack == "minnie65_public":
        return image, GRAPHENE_SEGMENTATION
    raise DataError(f"no segmentation source known for datastack {datastack!r}; pass a CAVE client")


def synapse_points(synapses: pd.DataFrame, root_ids: np.ndarray, which: str, group_by: str,
                   units: pd.DataFrame | None) -> list[tuple[str, str, pd.DataFrame]]:
    """``[(layer name, colour, rows)]``: the synapses of ``root_ids`` as point layers, with
    ``partner``, ``neuron``, ``segments`` (neuron, partner) and ``description`` columns."""
    from ..palettes import SYNAPSE_DIRECTION, palette_for

    chosen = set(int(i) for i in root_ids)
    parts = []
    for direction, mine, other in (("inputs", "post_pt_root_id", "pre_pt_root_id"),
                                   ("outputs", "pre_pt_root_id", "post_pt_root_id")):
        if which not in ("both", direction):
            continue
        rows = synapses[synapses[mine].isin(chosen)].copy()
        rows["neuron"], rows["partner"] = rows[mine].astype(np.int64), rows[other].astype(np.int64)
        rows["direction"] = direction
        parts.append(rows)
    if not parts:
        return []
    rows = pd.concat(parts, ignore_index=True)
    rows["segments"] = [[int(n), int(p)] for n, p in zip(rows["neuron"], rows["partner"])]
    arrow = np.where(rows["direction"] == "inputs", "<-", "->")
    rows["description"] = [f"synapse {int(i)}: {int(n)} {a} {int(p)}"
                           for i, n, a, p in zip(rows["id"], rows["neuron"], arrow, rows["partner"])]
    if group_by == "direction":
        colors = {"inputs": SYNAPSE_DIRECTION["input"], "outputs": SYNAPSE_DIRECTION["output"]}
        return [(d, hex_color(colors[d]), g) for d, g in rows.groupby("direction", sort=False) if len(g)]
    types = pd.Series("unknown", index=rows.index, dtype=object)
    if units is not None and "cell_type" in units.columns:
        lookup = units.drop_duplicates("pt_root_id").set_index("pt_root_id")["cell_type"].astype(object)
        types = rows["partner"].map(lookup).where(lambda s: s.notna(), "unknown")
    rows["partner_type"] = types.astype(str)
    palette = palette_for("cell_type", rows["partner_type"])
    out = []
    for (d, t), g in rows.groupby(["direction", "partner_type"], sort=True):
        color = palette.get(t) or (1.0, 1.0, 1.0)
        out.append((f"{d}: {t}", hex_color(color), g))
    return out


def segment_properties(units: pd.DataFrame | None, root_ids: np.ndarray) -> dict | None:
    """Labels of the chosen cells (cell type as label; layer, brain area as tags), or None."""
    if units is None or not len(root_ids):
        return None
    from nglui.segmentprops import SegmentProperties

    rows = units[units["pt_root_id"].isin([int(i) for i in root_ids])].drop_duplicates("pt_root_id")
    cols = [c for c in ("cell_type", "layer", "brain_area") if c in rows.columns]
    if not len(rows) or not cols:
        return None
    table = pd.DataFrame({"pt_root_id": rows["pt_root_id"].astype(np.int64).to_numpy()})
    for c in cols:
        table[c] = rows[c].astype(object).where(rows[c].notna(), "unknown").astype(str).to_numpy()
    props = SegmentProperties.from_dataframe(table, id_col="pt_root_id", label_col=cols[0],
                                             tag_value_cols=cols[1:] or None)
    return props.to_dict()


def soma_voxels(units: pd.DataFrame | None, root_id: int) -> np.ndarray | None:
    """The soma of ``root_id`` in 4x4x40 nm voxels from the units table, or None."""
    if units is None:
        return None
    row = units[units["pt_root_id"] == int(root_id)]
    if not len(row):
        return None
    row = row.iloc[0]
    vx = ["pt_position_vx_x", "pt_position_vx_y", "pt_position_vx_z"]
    if all(c in row.index for c in vx) and row[vx].notna().all():
        return row[vx].to_numpy(dtype=float)
    um = ["pt_position_x", "pt_position_y", "pt_position_z"]
    if all(c in row.index for c in um) and row[um].notna().all():
        from ..transform import um_to_voxels

        return um_to_voxels(row[um].to_numpy(dtype=float))[0]
    return None


def build_state(root_ids, *, image: str, segmentation: str, synapses: pd.DataFrame | None = None,
                which: str | None = "both", group_by: str = "direction", units: pd.DataFrame | None = None,
                colors: dict | None = None, position_vx=None) -> NeuroglancerState:
    """The state: EM, the segmentation with ``root_ids`` selected and coloured, their synapses
    (rows of the store, positions ``ctr_pt_position_vx_*``) as point layers, the camera at
    ``position_vx`` (4x4x40 nm voxels) or the first neuron's soma."""
    from nglui.statebuilder import ImageLayer, SegmentationLayer, ViewerState

    from ..palettes import NEURON_CYCLE

    colors = {int(k): v for k, v in (colors or {}).items()}
    seg_colors = {int(r): hex_color(colors.get(int(r), NEURON_CYCLE[i % len(NEURON_CYCLE)]))
                  for i, r in enumerate(root_ids)}
    notes = []
    if segmentation.startswith("graphene://"):
        notes.append("the segmentation is CAVE's dynamic (graphene) one: the viewer asks you to sign in, and shows "
                     "today's root ids (an id edited since this version shows nothing)")
    local = [src for src in (image, segmentation) if "file://" in src]
    if local:
        notes.append(f"{', '.join(local)}: a browser cannot read local files; serve them over http(s) to see them")
    if position_vx is None and len(root_ids):
        position_vx = soma_voxels(units, root_ids[0])
        if position_vx is None:
            notes.append(f"no soma position for {int(root_ids[0])} in the units: the camera is not set")
    vs = ViewerState(dimensions=list(VOXEL_NM), infer_coordinates=False, capabilities="spelunker",
                     position=None if position_vx is None else [float(v) for v in position_vx])
    vs.add_layer(ImageLayer(name="em", source=image))
    seg = SegmentationLayer(name=SEGMENTATION_LAYER, source=segmentation)
    seg.add_segments([int(r) for r in root_ids])
    seg.add_segment_colors(seg_colors)
    vs.add_layer(seg)
    layers = []
    if which is not None and synapses is not None:
        for name, color, rows in synapse_points(synapses, root_ids, which, group_by, units):
            vs.add_points(rows, name=name, point_column=["ctr_pt_position_vx_x", "ctr_pt_position_vx_y",
                                                         "ctr_pt_position_vx_z"],
                          segment_column="segments", description_column="description", data_resolution=list(VOXEL_NM),
                          color=color, linked_segmentation=SEGMENTATION_LAYER)
            layers.append((name, rows))
    state = json.loads(vs.to_json_string(indent=None))
    _exact(state, layers, position_vx)
    props = segment_properties(units, root_ids)
    if props is not None:
        notes.append("segment properties (cell type, layer, brain area) go with the short link only: "
                     "a Neuroglancer state cannot hold them inline")
    return NeuroglancerState(state=state, segment_properties=props, notes=notes)


def _exact(state: dict, layers: list[tuple[str, pd.DataFrame]], position_vx) -> None:
    """Float64 points and camera, and string segment ids, in place (see the module doc)."""
    if position_vx is not None:
        state["position"] = [float(v) for v in position_vx]
    by_name = {layer.get("name"): layer for layer in state.get("layers", [])}
    for name, rows in layers:
        annotations = by_name[name]["annotations"]
        if len(annotations) != len(rows):
            raise AssertionError(f"layer {name}: {len(annotations)} annotations for {len(rows)} synapses")
        xyz = rows[["ctr_pt_position_vx_x", "ctr_pt_position_vx_y", "ctr_pt_position_vx_z"]].to_numpy(dtype=float)
        for anno, point, segs, syn in zip(annotations, xyz, rows["segments"], rows["id"]):
            anno["id"] = str(int(syn))  # the synapse id: the same state each time
            anno["point"] = [float(v) for v in point]
            anno["segments"] = [[str(int(s)) for s in segs]]
