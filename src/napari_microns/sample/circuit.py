"""A SYNTHETIC connectome: every synapse among the sample's proofread neurons and the
showcase neurons, for the connectivity matrix and the circuit views.

Connections are drawn per ordered pair of neurons with a probability that depends on the
pre- and postsynaptic class (:data:`CONNECTION_P`: E->E sparse, E->I denser, basket cells
onto pyramidal cells dense and strong, Martinotti cells onto pyramidal cells, I->I) and
falls with soma distance; E->E connections are likelier between cells with similar
preferred orientations (like-to-like), so input synapses coloured by the presynaptic
partner's ``pref_ori`` resemble the postsynaptic cell's own. Each connection has a few
synapses (:data:`SYNAPSES_PER_CONNECTION`) of log-normal size around a per-class median.
Synapses sit on the postsynaptic dendritic field (basket cells perisomatic, Martinotti
cells above the soma towards the pia), within about 100 µm of the soma; on the showcase
neurons' skeletons: a showcase cell's inputs on its dendrites, its outputs on its axon.
None of this is MICrONS data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.transform import um_to_voxels
from .morphology import SyntheticNeuron

#: Synapse ids of the connectome start here (the showcase synapses use 1, 2, ...).
CONNECTOME_ID_BASE = 1_000_000_000
#: Presynaptic group -> postsynaptic group -> connection probability at zero distance.
GROUPS = ("E", "BC", "MC", "BPC", "NGC")
CONNECTION_P = {
    "E": {"E": 0.14, "BC": 0.45, "MC": 0.4, "BPC": 0.3, "NGC": 0.25},
    "BC": {"E": 0.7, "BC": 0.45, "MC": 0.15, "BPC": 0.1, "NGC": 0.1},
    "MC": {"E": 0.5, "BC": 0.3, "MC": 0.05, "BPC": 0.4, "NGC": 0.2},
    "BPC": {"E": 0.04, "BC": 0.1, "MC": 0.55, "BPC": 0.05, "NGC": 0.1},
    "NGC": {"E": 0.3, "BC": 0.2, "MC": 0.2, "BPC": 0.2, "NGC": 0.2},
}
#: Soma distance (µm) over which the connection probability falls by e.
DISTANCE_SCALE_UM = 300.0
#: Like-to-like strength: E->E probability times exp(k (cos 2 dtheta - 1)).
LIKE_TO_LIKE = 1.2
#: Presynaptic group -> (mean extra synapses per connection, median size).
SYNAPSES_PER_CONNECTION = {"E": (0.6, 4000.0), "BC": (4.0, 10000.0), "MC": (2.0, 5000.0),
                           "BPC": (1.0, 4000.0), "NGC": (1.5, 6000.0)}


def cell_group(cell_type) -> np.ndarray:
    """E for every excitatory type, else the inhibitory type (BC, MC, BPC, NGC)."""
    t = np.asarray(cell_type, dtype=object).astype(str)
    return np.where(np.isin(t, list(GROUPS[1:])), t, "E")


def connection_probability(pre_group, post_group, distance_um, delta_ori_deg=None) -> np.ndarray:
    """The probability of a connection pre -> post (arrays of equal length). ``delta_ori_deg``:
    the difference of preferred orientations (NaN: unknown) for the like-to-like rule; an
    unknown difference gets the rule's mean factor."""
    table = np.array([[CONNECTION_P[a][b] for b in GROUPS] for a in GROUPS])
    pi, qi = _group_index(pre_group), _group_index(post_group)
    p = table[pi, qi] * np.exp(-np.asarray(distance_um, dtype=float) / DISTANCE_SCALE_UM)
    if delta_ori_deg is not None:
        ee = (pi == 0) & (qi == 0)
        p = np.where(ee, p * like_to_like(delta_ori_deg), p)
    return np.clip(p, 0.0, 1.0)


def _group_index(groups) -> np.ndarray:
    """The position in :data:`GROUPS` of each group name."""
    names, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return np.array([GROUPS.index(g) for g in names], dtype=np.int64)[inverse].reshape(-1)


def like_to_like(delta_ori_deg) -> np.ndarray:
    """How much likelier an E->E connection is for this difference of preferred orientations
    (degrees) than on average: exp(k (cos 2 dtheta - 1)) over its mean; 1 when unknown (NaN)."""
    d = np.deg2rad(np.asarray(delta_ori_deg, dtype=float))
    mean = np.exp(-LIKE_TO_LIKE) * np.i0(LIKE_TO_LIKE)  # mean of the factor over uniform differences
    return np.where(np.isfinite(d), np.exp(LIKE_TO_LIKE * (np.cos(2 * d) - 1.0)) / mean, 1.0)


def connectome_members(units: pd.DataFrame, showcase_ids) -> np.ndarray:
    """Root ids of the proofread neurons (dendrite or axon) and the showcase neurons, sorted."""
    neuron = units["classification_system"] != "nonneuron"
    proofread = (units["strategy_dendrite"].astype(str) != "none") | (units["strategy_axon"].astype(str) != "none")
    ids = units.loc[neuron & proofread, "pt_root_id"].to_numpy(dtype=np.int64)
    return np.unique(np.concatenate([ids, np.asarray(list(showcase_ids), dtype=np.int64)]))


def synthetic_connectome(units: pd.DataFrame, members, neurons: list[SyntheticNeuron] = (),
                         seed: int = 0) -> pd.DataFrame:
    """Every synapse among ``members`` (root ids of ``units``): per-synapse rows ``id,
    pre_pt_root_id, post_pt_root_id, size, ctr_pt_position_x/y/z`` (4x4x40 nm voxels)."""
    rng = np.random.default_rng(seed)
    cells = units.set_index("pt_root_id").loc[np.asarray(members, dtype=np.int64)]
    ids = cells.index.to_numpy(dtype=np.int64)
    n = len(ids)
    group = cell_group(cells["cell_type"])
    pos = cells[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy(dtype=float)
    ori = cells["pref_ori"].to_numpy(dtype=float) if "pref_ori" in cells.columns else np.full(n, np.nan)
    pre, post = np.divmod(np.arange(n * n), n)
    pre, post = pre[pre != post], post[pre != post]
    dist = np.linalg.norm(pos[pre] - pos[post], axis=1)
    p = connection_probability(group[pre], group[post], dist, ori[pre] - ori[post])
    hit = rng.random(len(p)) < p
    pre, post = pre[hit], post[hit]
    per_group = np.array([SYNAPSES_PER_CONNECTION[g] for g in GROUPS])[_group_index(group)[pre]]
    count = 1 + rng.poisson(per_group[:, 0])
    median = per_group[:, 1] * rng.lognormal(0.0, 0.4, len(pre))
    s_pre, s_post = np.repeat(pre, count), np.repeat(post, count)
    size = np.rint(np.repeat(median, count) * rng.lognormal(0.0, 0.5, len(s_pre))).astype(np.int64)
    where = _positions(rng, pos, group, ids, s_pre, s_post, {nrn.root_id: nrn for nrn in neurons})
    vx = um_to_voxels(where)
    return pd.DataFrame({
        "id": CONNECTOME_ID_BASE + np.arange(len(s_pre), dtype=np.int64),
        "pre_pt_root_id": ids[s_pre], "post_pt_root_id": ids[s_post], "size": size,
        "ctr_pt_position_x": vx[:, 0], "ctr_pt_position_y": vx[:, 1], "ctr_pt_position_z": vx[:, 2],
    })


def _positions(rng, pos, group, ids, pre, post, neurons: dict) -> np.ndarray:
    """Where each synapse sits (µm): on the postsynaptic dendritic field near its soma,
    on a showcase neuron's skeleton when one is involved."""
    m = len(pre)
    direction = rng.normal(0.0, 1.0, (m, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = np.clip(np.abs(rng.normal(0.0, 45.0, m)), 3.0, 100.0)
    basket = group[pre] == "BC"
    radius[basket] = rng.uniform(4.0, 25.0, basket.sum())  # perisomatic
    where = pos[post] + direction * radius[:, None]
    martinotti = (group[pre] == "MC") & (group[post] == "E")  # distal, towards the pia
    k = martinotti.sum()
    where[martinotti] = pos[post][martinotti] + np.c_[rng.normal(0, 20, k), -rng.uniform(40, 100, k),
                                                      rng.normal(0, 20, k)]
    showcase = np.asarray(list(neurons), dtype=np.int64)
    for i in np.flatnonzero(np.isin(ids[pre], showcase) | np.isin(ids[post], showcase)):
        target, source = neurons.get(int(ids[post[i]])), neurons.get(int(ids[pre[i]]))
        if target is not None:  # on a dendrite of the showcase neuron
            dend = np.flatnonzero(np.isin(target.compartment, [3, 4]))
            where[i] = target.vertices[rng.choice(dend)] + rng.normal(0, 0.6, 3)
        elif source is not None:  # on the showcase neuron's axon, near the target
            axon = np.flatnonzero(source.compartment == 2)
            near = axon[np.argsort(np.linalg.norm(source.vertices[axon] - pos[post[i]], axis=1))[:8]]
            where[i] = source.vertices[rng.choice(near)] + rng.normal(0, 0.6, 3)
    where[:, 1] = np.maximum(where[:, 1], 1.0)  # below the pia
    return where
