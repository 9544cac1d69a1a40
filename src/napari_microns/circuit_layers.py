"""Pure builders for the circuit views: the highlight ring around a partner, one pair's synapses,
and synapse layers recoloured by a partner column. Core data in, napari layer-data tuples (or
arrays) out; no napari or Qt imports (as :mod:`.layer_data`, whose builders these reuse)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import layer_data as ld
from .core import palettes
from .core.errors import DataError

#: The highlight layer (the partner picked in the Partners panel, and its neuron).
HIGHLIGHT_LAYER = "highlight"
KIND_HIGHLIGHT = "highlight"
#: Ring diameter (µm): around a unit's point (:data:`~.layer_data.DEFAULT_UNIT_SIZE`).
HIGHLIGHT_SIZE = 30.0
#: A pair's synapses are drawn this many times larger than a neuron's (a handful, not thousands).
PAIR_SIZE_FACTOR = 4.0


def unit_rows(features: pd.DataFrame, root_ids) -> np.ndarray:
    """Row of the first unit of each root id in ``features`` (-1 where none), int64 throughout."""
    ids = np.asarray(list(root_ids), dtype=np.int64)
    column = features["pt_root_id"].to_numpy(dtype=np.int64)
    first = pd.Series(np.arange(len(column)), index=column)
    first = first[~first.index.duplicated()]
    return first.reindex(ids).fillna(-1).to_numpy(dtype=np.int64)


def highlight_layer_data(features: pd.DataFrame, partner: int, neuron: int | None = None,
                         name: str = HIGHLIGHT_LAYER) -> ld.LayerData:
    """Rings around the soma of ``partner`` (yellow) and of ``neuron`` (white), where they are
    units; a one-line :class:`DataError` if the partner is not."""
    roles = [("partner", int(partner), palettes.HIGHLIGHT)]
    if neuron is not None and int(neuron) != int(partner):
        roles.append(("neuron", int(neuron), palettes.CIRCUIT_NEURON))
    rows = unit_rows(features, [r for _, r, _ in roles])
    if rows[0] < 0:
        raise DataError(f"{int(partner)} is not among the units: it has no soma position to mark")
    keep = rows >= 0
    roles = [r for r, k in zip(roles, keep) if k]
    xyz = features[ld.POSITION_COLUMNS].to_numpy(dtype=float)[rows[keep]]
    kwargs = {
        "name": name,
        "features": pd.DataFrame({"pt_root_id": np.array([r for _, r, _ in roles], dtype=np.int64),
                                  "role": [role for role, _, _ in roles]}),
        "face_color": [0, 0, 0, 0],
        "border_color": np.array([c for _, _, c in roles], dtype=np.float32),
        "border_width": 0.12,
        "size": HIGHLIGHT_SIZE,
        "blending": "translucent_no_depth",  # a ring seen through the units around it
        "units": "um",
        "metadata": {ld.KIND_KEY: KIND_HIGHLIGHT, "root_id": int(partner)},
    }
    return (ld.to_display(xyz), kwargs, "points")


def pair_layer_name(pre: int, post: int) -> str:
    return f"synapses {int(pre)}→{int(post)}"


def pair_layer_data(synapses: pd.DataFrame, pre: int, post: int, units: pd.DataFrame | None = None) -> ld.LayerData:
    """The synapses from ``pre`` onto ``post`` (as :func:`~.layer_data.synapse_layer_data`, outputs
    of ``pre``), named after the pair; a one-line :class:`DataError` when there are none."""
    pre, post = int(pre), int(post)
    rows = synapses[(synapses["pre_pt_root_id"].to_numpy(dtype=np.int64) == pre)
                    & (synapses["post_pt_root_id"].to_numpy(dtype=np.int64) == post)]
    if len(rows) == 0:
        raise DataError(f"no synapses stored from {pre} onto {post}")
    data, kwargs, kind = ld.synapse_layer_data(rows, [pre], units=units, name=pair_layer_name(pre, post))
    kwargs["metadata"]["pair"] = [pre, post]
    kwargs["size"] = kwargs["size"] * PAIR_SIZE_FACTOR  # a few synapses: large enough to find
    return data, kwargs, kind


def synapse_frame(data: np.ndarray, features: pd.DataFrame) -> pd.DataFrame:
    """A synapse layer's points and features back as synapse rows (µm), for rebuilding its colours."""
    xyz = ld.from_display(data)
    return pd.DataFrame({
        "pre_pt_root_id": features["pre_pt_root_id"].to_numpy(dtype=np.int64),
        "post_pt_root_id": features["post_pt_root_id"].to_numpy(dtype=np.int64),
        "size": features["size"].to_numpy(),
        **{c: xyz[:, i] for i, c in enumerate(ld.SYNAPSE_POSITION)},
    })


def recoloured_synapses(data: np.ndarray, features: pd.DataFrame, units: pd.DataFrame | None,
                        color_by: str) -> ld.LayerData:
    """A synapse layer's points coloured anew: by direction, or by each synapse's partner's value of
    a units column (an input's partner is its presynaptic cell; numeric columns on the colour map
    of all units, partners without a value in "no data")."""
    direction = features["direction"].astype(str).to_numpy()
    pre = features["pre_pt_root_id"].to_numpy(dtype=np.int64)
    neurons = np.unique(pre[direction == "output"])
    if len(neurons) == 0:  # only inputs: every presynaptic cell is a partner, the post cells are the neurons
        neurons = np.unique(features["post_pt_root_id"].to_numpy(dtype=np.int64))
    return ld.synapse_layer_data(synapse_frame(data, features), neurons.tolist(), units=units, color_by=color_by)
