"""SYNTHETIC synapses of the showcase neurons, imported into the synapse store."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..core.transform import um_to_voxels
from .morphology import SyntheticNeuron

log = logging.getLogger(__name__)


def synthetic_synapses(neurons: list[SyntheticNeuron], units: pd.DataFrame, seed: int = 0,
                       n_inputs: int = 600, n_outputs: int = 250) -> pd.DataFrame:
    """Per-synapse rows: inputs on each neuron's dendrites, outputs on its axon.

    Partners are other units (mostly excitatory for inputs, as in cortex),
    drawn with a preference for nearby cells. Positions in 4x4x40 nm voxels
    (``ctr_pt_position_x/y/z``) as the synapse table serves them.
    """
    rng = np.random.default_rng(seed)
    neurons_only = units[units["classification_system"] != "nonneuron"]
    ids = neurons_only["pt_root_id"].to_numpy(dtype=np.int64)
    pos = neurons_only[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()
    exc = (neurons_only["classification_system"] == "excitatory_neuron").to_numpy()
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
            weight[ids == nrn.root_id] = 0
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
    """Import the neurons' synthetic synapses into the dataset's synapse store."""
    if not hasattr(ds, "import_synapses"):
        log.warning("synapse store not available in this build; the sample has no synapses")
        return False
    ds.import_synapses(synthetic_synapses(neurons, units, seed))
    return True
