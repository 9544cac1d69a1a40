"""SYNTHETIC synapses of the showcase neurons and the connectome among the proofread
neurons (:mod:`.circuit`), imported into the synapse store with what they cover."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..core.transform import um_to_voxels
from .circuit import connectome_members, like_to_like, synthetic_connectome
from .morphology import SyntheticNeuron

log = logging.getLogger(__name__)


def synthetic_synapses(neurons: list[SyntheticNeuron], units: pd.DataFrame, seed: int = 0,
                       n_inputs: int = 600, n_outputs: int = 250, exclude=()) -> pd.DataFrame:
    """Per-synapse rows: inputs on each neuron's dendrites, outputs on its axon.

    Partners are other units (mostly excitatory for inputs, as in cortex), drawn with a
    preference for nearby cells and, onto an excitatory neuron, for excitatory partners of
    similar preferred orientation (``pref_ori``, when the units have it). Positions in
    4x4x40 nm voxels (``ctr_pt_position_x/y/z``) as the synapse table serves them. ``exclude``: root ids
    never drawn as partners (the connectome's members: their synapses come from there).
    """
    rng = np.random.default_rng(seed)
    neurons_only = units[units["classification_system"] != "nonneuron"]
    ids = neurons_only["pt_root_id"].to_numpy(dtype=np.int64)
    pos = neurons_only[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()
    exc = (neurons_only["classification_system"] == "excitatory_neuron").to_numpy()
    ori = neurons_only["pref_ori"].to_numpy(dtype=float) if "pref_ori" in units.columns else np.full(len(ids), np.nan)
    own_ori = dict(zip(ids.tolist(), ori))
    rows = []
    next_id = 1
    for nrn in neurons:
        dend = np.flatnonzero(np.isin(nrn.compartment, [3, 4]))
        axon = np.flatnonzero(nrn.compartment == 2)
        for kind, verts, n in (("input", dend, n_inputs), ("output", axon, n_outputs)):
            if len(verts) == 0:
                continue
            at = rng.choice(verts, n)
            where = nrn.vertices[at] + rng.normal(0, 0.6, (n, 3))
            # Partners near the synapse, favouring excitatory cells for inputs.
            dist = np.linalg.norm(pos[None, :, :] - where[: min(n, 64), None, :], axis=2).min(axis=0)
            weight = np.exp(-dist / 150.0) * np.where(exc, 4.0 if kind == "input" else 1.0, 1.0)
            if kind == "input" and nrn.cell_type not in ("BC", "MC", "BPC", "NGC"):  # E -> E like-to-like
                weight = weight * np.where(exc, like_to_like(ori - own_ori.get(nrn.root_id, np.nan)), 1.0)
            weight[ids == nrn.root_id] = 0
            weight[np.isin(ids, np.asarray(list(exclude), dtype=np.int64))] = 0
            partner = rng.choice(ids, n, p=weight / weight.sum())
            size = np.rint(rng.lognormal(np.log(4000 if kind == "input" else 6000), 0.8, n)).astype(np.int64)
            pre = partner if kind == "input" else np.full(n, nrn.root_id)
            post = np.full(n, nrn.root_id) if kind == "input" else partner
            rows.append(pd.DataFrame({"id": np.arange(next_id, next_id + n, dtype=np.int64),
                                      "pre_pt_root_id": pre, "post_pt_root_id": post, "size": size,
                                      "x": where[:, 0], "y": where[:, 1], "z": where[:, 2]}))
            next_id += n
    syn = pd.concat(rows, ignore_index=True)
    vx = um_to_voxels(syn[["x", "y", "z"]].to_numpy())
    syn["ctr_pt_position_x"], syn["ctr_pt_position_y"], syn["ctr_pt_position_z"] = vx[:, 0], vx[:, 1], vx[:, 2]
    return syn.drop(columns=["x", "y", "z"])


def add_synapses(ds, neurons: list[SyntheticNeuron], units: pd.DataFrame, seed: int) -> bool:
    """Import the synthetic synapses into the dataset's synapse store, each import with the
    pairs it holds every synapse of: the connectome among the proofread and showcase neurons
    (``covers`` members x members), then all inputs and all outputs of the showcase neurons
    (their partners outside the connectome from :func:`synthetic_synapses`, inside it the
    connectome's rows again, same ids: the store keeps one of each)."""
    if not hasattr(ds, "import_synapses"):
        log.warning("synapse store not available in this build; the sample has no synapses")
        return False
    showcase = [int(n.root_id) for n in neurons]
    members = connectome_members(units, showcase)
    connectome = synthetic_connectome(units, members, neurons, seed)
    own = synthetic_synapses(neurons, units, seed, exclude=members)
    rows = pd.concat([own, connectome], ignore_index=True)
    ds.import_synapses(connectome, covers={"pre": members.tolist(), "post": members.tolist()})
    ds.import_synapses(rows[rows["post_pt_root_id"].isin(showcase)], covers={"pre": "all", "post": showcase})
    ds.import_synapses(rows[rows["pre_pt_root_id"].isin(showcase)], covers={"pre": showcase, "post": "all"})
    return True
