"""npe2 sample data: the SYNTHETIC MICrONS-like sample (File > Open Sample).

The sample is generated once by :mod:`napari_microns.sample` into a cache
folder, through the same processing, synapse and morphology code as real
data, and then read back like any data folder.
"""

from __future__ import annotations

from . import layer_data as ld
from .core.dataset import Dataset
from .core.units import load_processed
from .fetching import fetch_neurons, somata_layers
from .sample import make_sample


def make_sample_data() -> list[tuple]:
    """Units coloured by cell type, layer planes and the sample's detailed neurons."""
    info = make_sample()
    ds = Dataset(info.datadir, version=info.version)
    tables = load_processed(ds.layout.units_path)
    layers = ld.scene_layer_data(tables.units, tables.cortical_layers,
                                 source={"datadir": str(info.datadir), "version": info.version, "synthetic": True})
    neurons = []
    for piece in fetch_neurons(ds, info.root_ids, units=layers[0][1]["features"]):
        neurons += piece.layers  # error pieces carry no layers
    return layers + neurons + somata_layers(neurons)
