"""Colours that must be told apart on the real data: skeleton compartments and synapse
directions against every unit palette, and neuron types against the grey non-neuronal
cells on a black canvas (CIELAB distances, CIE76 ΔE)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from napari_microns.core import palettes


def srgb_to_lab(rgb) -> np.ndarray:
    """sRGB (0..1) -> CIELAB (D65)."""
    c = np.asarray(rgb, dtype=float)[..., :3]
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = linear @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e(a, b) -> float:
    return float(np.linalg.norm(srgb_to_lab(a) - srgb_to_lab(b)))


def on_black(rgba) -> np.ndarray:
    """A translucent colour as drawn over the black canvas."""
    return np.asarray(rgba[:3], dtype=float) * float(rgba[3])


def test_srgb_to_lab_matches_reference_values():
    np.testing.assert_allclose(srgb_to_lab([1, 1, 1]), [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(srgb_to_lab([1, 0, 0]), [53.24, 80.09, 67.20], atol=0.05)
    np.testing.assert_allclose(srgb_to_lab([0, 0, 0]), [0, 0, 0], atol=1e-9)


UNIT_PALETTES = {name: palettes.PALETTES[name]
                 for name in ("cell_type", "classification_system", "layer", "brain_area", "proofreading")}
UNIT_COLOURS = [(f"{column}:{value}", color) for column, palette in UNIT_PALETTES.items()
                for value, color in palette.items()]
NEURITES = {palettes.COMPARTMENT_NAMES[c]: palettes.COMPARTMENT[c] for c in (2, 3, 4)}
SYNAPSES = {f"{k} synapse": v for k, v in palettes.SYNAPSE_DIRECTION.items()}


@pytest.mark.parametrize("name", [*NEURITES, *SYNAPSES])
def test_neuron_colours_stay_apart_from_every_unit_colour(name):
    """A skeleton or synapse drawn among the units is never a unit colour: ΔE > 20 from every
    unit palette colour, > 35 for synapses (thousands of points among the units)."""
    color = {**NEURITES, **SYNAPSES}[name]
    limit = 35.0 if name in SYNAPSES else 20.0
    close = [(unit, round(delta_e(color, c), 1)) for unit, c in UNIT_COLOURS if delta_e(color, c) <= limit]
    assert not close, f"{name} is too close to {close}"


def test_input_synapses_are_not_the_layer_green():
    assert delta_e(palettes.SYNAPSE_DIRECTION["input"], palettes.LAYER["L2/3"]) > 35


def test_neurites_and_synapses_stay_apart_from_each_other():
    colours = {**NEURITES, **SYNAPSES}
    for (a, ca), (b, cb) in itertools.combinations(colours.items(), 2):
        assert delta_e(ca, cb) > 20, (a, b)


def test_neuron_types_stand_apart_from_non_neuronal_cells_on_black():
    """Every neuron type is bright enough on black (L* > 35) and far from every translucent
    grey non-neuronal type as drawn (ΔE > 30)."""
    neurons = {**palettes.EXCITATORY, **palettes.INHIBITORY}
    for name, color in neurons.items():
        assert srgb_to_lab(on_black(color))[0] > 35, name
        for other, grey in palettes.NONNEURONAL.items():
            assert delta_e(on_black(color), on_black(grey)) > 30, (name, other)
