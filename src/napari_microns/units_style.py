"""How the units layer is drawn (opacity, point size), and the rule that fades it.

With ~91,000 units a neuron is lost in the cloud, so a :class:`~.scene.Scene` fades its
units into context (:data:`CONTEXT_STYLE`) when the first neuron piece arrives, unless a
style was chosen for them (the Units panel's slider, ``scene.set_context``); new units
start afresh, drawn as loaded. Nothing here imports napari: it only sets a layer's
``opacity``, ``size`` and ``blending``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import layer_data as ld
from .core.errors import DataError


@dataclass(frozen=True)
class UnitsStyle:
    """How the units layer is drawn: its opacity (0-1) and point size (µm)."""

    opacity: float = 1.0
    size: float = ld.DEFAULT_UNIT_SIZE

    @property
    def faded(self) -> bool:
        return self.opacity < 1.0


#: the units as context behind the neurons shown
CONTEXT_STYLE = UnitsStyle(opacity=0.35, size=6.0)
#: the fetched pieces that show a neuron, and so fade the units
NEURON_PIECES = (ld.KIND_SKELETON, ld.KIND_MESH, ld.KIND_SYNAPSES)


def style_of(layer) -> UnitsStyle:
    """The style a units layer is drawn with now."""
    sizes = np.asarray(layer.size, dtype=float).ravel()
    return UnitsStyle(float(layer.opacity), float(np.median(sizes)) if sizes.size else ld.DEFAULT_UNIT_SIZE)


def restyled(style: UnitsStyle, opacity: float | None = None, size: float | None = None) -> UnitsStyle:
    """``style`` with a new opacity and/or size (None: kept), checked (one-line errors)."""
    opacity = style.opacity if opacity is None else float(opacity)
    size = style.size if size is None else float(size)
    if not 0.0 <= opacity <= 1.0:
        raise DataError(f"units opacity must be between 0 and 1 (got {opacity})")
    if not 0.0 < size <= 1000.0:
        raise DataError(f"units size must be above 0 and at most 1000 µm (got {size})")
    return UnitsStyle(opacity, size)


def apply_style(layer, style: UnitsStyle) -> None:
    """Draw a units layer in ``style``; faded units never hide the neurons behind them."""
    layer.opacity = style.opacity
    if not np.allclose(layer.size, style.size):  # ~91k sizes: only when they change
        layer.size = style.size
    layer.blending = "translucent_no_depth" if style.faded else "translucent"


class UnitsLook:
    """A scene's units style, and whether it was chosen (else a neuron arriving fades the units)."""

    def __init__(self):
        self.style, self.chosen = UnitsStyle(), False

    def reset(self, layer) -> None:
        """New units: their style as loaded, not chosen."""
        self.style, self.chosen = style_of(layer), False

    def fades_for(self, piece_kind: str) -> bool:
        """Whether a fetched piece of this kind should fade the units now."""
        return piece_kind in NEURON_PIECES and not self.chosen

    def choose(self, layer, opacity: float | None = None, size: float | None = None) -> UnitsStyle | None:
        """Draw ``layer`` with a new opacity/size (None: kept); the new style, or None if unchanged."""
        style = restyled(self.style, opacity, size)
        self.chosen = True
        if style == self.style:
            return None
        apply_style(layer, style)
        self.style = style
        return style


__all__ = ["CONTEXT_STYLE", "NEURON_PIECES", "UnitsLook", "UnitsStyle", "apply_style", "restyled", "style_of"]
