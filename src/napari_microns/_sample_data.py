"""npe2 sample data: the SYNTHETIC MICrONS-like sample (File > Open Sample).

The sample is generated once by :mod:`napari_microns.core.sample` into a cache
folder, through the same processing, synapse and morphology code as real
data, and then read back like any data folder.
"""

from __future__ import annotations

from . import layer_data as ld
from .core.dataset import Dataset
from .core.sample import make_sample
from .scene import fetch_neurons, somata_layers


def make_sample_data() -> list[tuple]:
    """Units coloured by cell type, layer planes and the sample's detailed neurons."""
    info = make_sample()
    ds = Dataset(info.datadir, version=info.version)
    units = ds.units()
    layers = ld.scene_layer_data(units, ds.layers(), source={"datadir": str(info.datadir), "version": info.version,
                                                            "synthetic": True})
    neurons = []
    for piece in fetch_neurons(ds, info.root_ids, units=layers[0][1]["features"]):
        neurons += piece.layers  # error pieces carry no layers
    return layers + neurons + somata_layers(neurons)
