"""The circuit in the scene: one neuron's synaptic partners and a connectivity matrix, as a
model with events beside :class:`~.scene.Scene`.

:class:`CircuitScene` holds the partners shown (:class:`~.core.synapses.circuit.Partners`),
the highlighted partner, whether the units are coloured by their connection with the neuron,
the ids of the matrix and the matrix itself (:class:`~.core.synapses.circuit.Connectivity`).
It changes only through its methods and announces each change on :attr:`CircuitScene.events`;
the Partners and Connectivity panels call the methods and follow the events. The numbers come
from the core (``Dataset.partners``, ``Dataset.connectivity``), colours from
:mod:`.colour_data` and layers from the pure builders (:mod:`.layer_data`, :mod:`.circuit_layers`).
Methods named ``*_of`` read the dataset without touching the viewer: run them in a worker
thread and hand the result to the matching ``set_*`` on the UI thread.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from psygnal import Signal, SignalGroup

from . import circuit_layers as cl
from . import colour_data
from . import layer_data as ld
from .core.errors import DataError
from .core.ids import parse_id, parse_ids
from .core.layout import atomic_write_csv
from .scene import Scene, _named, _recolour, _replace_layer, fetch_source

#: Where the matrix's ids come from (:meth:`CircuitScene.set_matrix_ids`).
MATRIX_SOURCES = ("chosen", "shown", "proofread")
#: The matrix's values (:meth:`CircuitScene.compute_connectivity`).
MATRIX_VALUES = ("count", "size", "log_size")
#: Most neurons a matrix is computed for (n x n cells; beyond this the heatmap is a blur).
MAX_MATRIX_IDS = 1500
DIRECTIONS = ("inputs", "outputs")
#: The units' opacity while coloured by connection: the partners near full strength (non-partners
#: are faint by their colour), below 1 so napari draws the layer translucent and the neuron
#: inside stays visible (at 1 the units hide it).
CONNECTION_OPACITY = 0.95


def matrix_ids_for(scene: Scene, source: str | Iterable[int]) -> np.ndarray:
    """The ids of a matrix: ``"chosen"`` (the chosen neurons), ``"shown"`` (the units passing the
    filters that the synapse store covers at least partly: :func:`partly_covered`), ``"proofread"``
    (proofread units), or explicit root ids."""
    if isinstance(source, str):
        if source not in MATRIX_SOURCES:
            raise DataError(f"matrix ids come from {', '.join(MATRIX_SOURCES)} or a list of root ids "
                            f"(got {source!r})")
        ids = _source_ids(scene, source)
    else:
        ids = parse_ids(list(source), "root id", where="matrix ids", unique=True)
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        raise DataError(f"no {source} neurons for a matrix" if isinstance(source, str) else "no root ids given")
    if len(ids) > MAX_MATRIX_IDS:
        raise DataError(f"{len(ids):,} neurons are too many for a matrix (at most {MAX_MATRIX_IDS}); "
                        "filter the units or choose neurons")
    return ids


def _source_ids(scene: Scene, source: str) -> np.ndarray:
    if source == "chosen":
        return np.asarray(scene.chosen, dtype=np.int64)
    features = scene.shown_features() if source == "shown" else scene.features
    if features is None:
        raise DataError("load units first")
    if source == "proofread":
        features = features[ld.filter_mask(features, proofread_only=True)]
    ids = pd.unique(features["pt_root_id"].to_numpy(dtype=np.int64))
    if source == "shown":
        ids = ids[partly_covered(fetch_source(scene.dataset).synapse_store, ids)]
    return ids


def partly_covered(store, ids: np.ndarray) -> np.ndarray:
    """Bool per id: some store source vouches for every synapse of it with some neurons (a
    coverage block names it: its inputs or outputs, or its pairs among a covered set)."""
    from .core.synapses.covers import blocks

    out = np.zeros(len(ids), dtype=bool)
    for block in blocks(store):
        for side in (block.pre, block.post):
            if side is not None:
                out |= np.isin(ids, side)
    return out


def _put_highlight(viewer, layer_data) -> None:
    """Show the highlight layer's new data (in place when it is there: a new napari layer costs
    the UI thread far more than new data), or take the layer away (None)."""
    from napari.layers import Layer

    old = _named(viewer, cl.HIGHLIGHT_LAYER)
    if layer_data is None:
        if old is not None:
            viewer.layers.remove(old)
        return
    built = Layer.create(*layer_data)
    if old is None:
        viewer.add_layer(built)
    else:
        old.data, old.features = built.data, built.features
        old.border_color, old.metadata = built.border_color, built.metadata


class CircuitEvents(SignalGroup):
    """What a :class:`CircuitScene` announces, on the thread that called its method (the UI thread)."""

    #: the partners shown (a ``Partners``, or None when cleared)
    partners_changed = Signal(object)
    #: the highlighted partner (its root id, or None)
    highlighted = Signal(object)
    #: the units are coloured by connection ("count" or "size"), or as before (None)
    connection_colouring_changed = Signal(object)
    #: the matrix's ids (an int64 array)
    matrix_ids_changed = Signal(object)
    #: the matrix (a ``Connectivity``, or None when cleared)
    connectivity_changed = Signal(object)
    #: a pair's synapses are in the viewer: ``(pre, post)``
    pair_shown = Signal(object)


class CircuitScene:
    """The circuit views of one :class:`~.scene.Scene` (made by the dock widget, or by a script)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.events = CircuitEvents()
        self._partners = None
        self._highlighted: int | None = None
        self._connection: str | None = None
        self._restore: tuple | None = None  # the colour-by, its limits and the units' style to go back to
        self._recolouring = False
        self._matrix_ids = np.zeros(0, dtype=np.int64)
        self._matrix_source: str | None = None  # "chosen", "shown", "proofread", or None (given ids)
        self._connectivity = None
        scene.events.units_changed.connect(self._units_changed)
        scene.events.color_by_changed.connect(self._color_by_changed)

    # -- state (read-only) ---------------------------------------------------------------
    @property
    def partners(self):
        """The partners shown (``Partners``), or None."""
        return self._partners

    @property
    def highlighted(self) -> int | None:
        return self._highlighted

    @property
    def connection_colouring(self) -> str | None:
        """"count" or "size" while the units are coloured by connection, else None."""
        return self._connection

    @property
    def matrix_ids(self) -> np.ndarray:
        return self._matrix_ids.copy()

    @property
    def matrix_source(self) -> str | None:
        """Where :attr:`matrix_ids` came from (a name of :data:`MATRIX_SOURCES`), None for given ids."""
        return self._matrix_source

    @property
    def connectivity(self):
        """The matrix computed last (``Connectivity``), or None."""
        return self._connectivity

    # -- partners ------------------------------------------------------------------------
    def partners_of(self, root_id: int, direction: str = "inputs"):
        """One neuron's partners from the dataset (worker-safe: the viewer is not touched)."""
        if direction not in DIRECTIONS:
            raise DataError(f"direction must be 'inputs' or 'outputs' (got {direction!r})")
        rid = parse_id(root_id, where="root id")
        return fetch_source(self.scene.dataset).partners(rid, direction=direction)

    def set_partners(self, partners) -> None:
        """Show these partners (from :meth:`partners_of`); the highlight and the connection
        colouring follow them."""
        self._partners = partners
        if self._highlighted is not None and not self._is_partner(self._highlighted):
            self.highlight(None)
        if self._connection is not None:
            if partners is None:
                self.colour_units_by_connection(None)
            else:
                self._paint_connection(self._connection)
        self.events.partners_changed.emit(partners)

    def show_partners(self, root_id: int, direction: str = "inputs"):
        """:meth:`partners_of` and :meth:`set_partners` in this thread; returns the partners."""
        partners = self.partners_of(root_id, direction)
        self.set_partners(partners)
        return partners

    def partner_summary(self, by: str = "cell_type") -> pd.DataFrame:
        """The shown partners grouped by a units column (``by``): partners, synapses, share."""
        from .core.synapses.circuit import partner_summary

        return partner_summary(self._partners_or_fail(), by=by)

    def export_partners(self, path) -> None:
        """Write the partners table as CSV (atomically; root ids as exact integers)."""
        atomic_write_csv(self._partners_or_fail().table, path)

    def _partners_or_fail(self):
        if self._partners is None:
            raise DataError("show a neuron's partners first")
        return self._partners

    def _is_partner(self, root_id: int) -> bool:
        table = None if self._partners is None else self._partners.table
        return table is not None and bool((table["partner_root_id"].to_numpy(dtype=np.int64) == int(root_id)).any())

    # -- highlight -----------------------------------------------------------------------
    def highlight(self, root_id: int | None) -> None:
        """Mark a partner: its unit selected in the units layer and ringed (with the neuron) in the
        highlight layer. None takes the mark away."""
        layer = self.scene.units_layer
        features = self.scene.features
        if root_id is None:
            _put_highlight(self.scene.viewer, None)
            if layer is not None:
                layer.selected_data = set()
        else:
            if layer is None or features is None:
                raise DataError("load units first")
            rid = parse_id(root_id, where="root id")
            neuron = None if self._partners is None else int(self._partners.root_id)
            _put_highlight(self.scene.viewer, cl.highlight_layer_data(features, rid, neuron))
            layer.selected_data = {int(cl.unit_rows(features, [rid])[0])}
            root_id = rid
        if root_id != self._highlighted:
            self._highlighted = root_id
            self.events.highlighted.emit(root_id)

    # -- units coloured by connection ------------------------------------------------------
    def colour_units_by_connection(self, value: str | None) -> None:
        """Colour the units by their synapse ``"count"`` or summed ``"size"`` with the neuron whose
        partners are shown (non-partners faint, the neuron white; units faded as context are drawn
        at full opacity meanwhile); None: back to the colour-by and the fade."""
        layer = self.scene.units_layer
        if value is None:
            if self._connection is None:
                return
            self._connection = None
            color_by, limits, style = self._restore or (self.scene.color_by, None, None)
            self._restore = None
            if layer is not None:
                self._recolouring = True
                try:
                    self.scene.set_color_by(color_by, limits)
                finally:
                    self._recolouring = False
                if style is not None and style.opacity != self.scene.units_style.opacity:
                    self.scene.set_context(opacity=style.opacity)  # faded again, as before
        else:
            self._partners_or_fail()
            if layer is None or self.scene.features is None:
                raise DataError("load units first")
            if self._connection is None:
                self._restore = (self.scene.color_by, layer.metadata.get("color_limits"), self.scene.units_style)
                if self.scene.units_style.opacity < CONNECTION_OPACITY:  # non-partners are faint already
                    self.scene.set_context(opacity=CONNECTION_OPACITY)
            self._paint_connection(value)
            if value == self._connection:
                return
            self._connection = value
        self.events.connection_colouring_changed.emit(self._connection)

    def connection_bar(self) -> colour_data.ColourBar | None:
        """The colour bar of the connection colouring (None when the units are coloured as before)."""
        if self._connection is None or self._partners is None:
            return None
        column = colour_data.CONNECTION_COLUMNS[self._connection]
        return colour_data.ColourBar(column, colour_data.connection_scale(self._partners.table, self._connection), 0)

    def _paint_connection(self, value: str) -> None:
        partners = self._partners
        colors = colour_data.connection_colors(self.scene.features["pt_root_id"], partners.table, value,
                                               neuron=partners.root_id)
        _recolour(self.scene.units_layer, colors, f"connection {value}", None)

    def _color_by_changed(self, _column: str) -> None:
        """Someone coloured the units by a column: the connection colouring is gone."""
        if self._connection is not None and not self._recolouring:
            style = self._restore[2] if self._restore else None
            self._connection = self._restore = None
            if style is not None and style.opacity != self.scene.units_style.opacity:
                self.scene.set_context(opacity=style.opacity)
            self.events.connection_colouring_changed.emit(None)

    # -- synapse colours -------------------------------------------------------------------
    def colour_synapses(self, color_by: str) -> int:
        """Colour the shown synapse layers anew: by ``"direction"`` or by each synapse's partner's
        value of a units column (inputs by their presynaptic cell, e.g. ``pref_ori``); returns how
        many layers were recoloured."""
        layers = [lyr for lyr in self.scene.viewer.layers if ld.layer_kind(lyr) == ld.KIND_SYNAPSES]
        for layer in layers:
            _, kwargs, _ = cl.recoloured_synapses(layer.data, layer.features, self.scene.features, color_by)
            layer.features = kwargs["features"]
            layer.face_color = kwargs["face_color"]
            layer.metadata["color_by"] = color_by
        return len(layers)

    # -- the connectivity matrix -----------------------------------------------------------
    def matrix_ids_for(self, source: str | Iterable[int]) -> np.ndarray:
        """The ids a matrix over ``source`` would have (see :func:`matrix_ids_for`)."""
        return matrix_ids_for(self.scene, source)

    def set_matrix_ids(self, source: str | Iterable[int]) -> np.ndarray:
        """Choose the matrix's ids (see :meth:`matrix_ids_for`); returns them."""
        ids = self.matrix_ids_for(source)
        self._matrix_source = source if isinstance(source, str) else None
        if not np.array_equal(ids, self._matrix_ids):
            self._matrix_ids = ids
            self.events.matrix_ids_changed.emit(ids.copy())
        return ids

    def connectivity_of(self, root_ids, value: str = "count"):
        """The matrix among ``root_ids``, ordered by cell type (worker-safe)."""
        if value not in MATRIX_VALUES:
            raise DataError(f"matrix value must be one of {', '.join(MATRIX_VALUES)} (got {value!r})")
        ids = [int(r) for r in np.asarray(root_ids, dtype=np.int64)]
        return fetch_source(self.scene.dataset).connectivity(ids, value=value, order_by="cell_type")

    def set_connectivity(self, connectivity) -> None:
        """Show this matrix (from :meth:`connectivity_of`)."""
        self._connectivity = connectivity
        self.events.connectivity_changed.emit(connectivity)

    def compute_connectivity(self, value: str = "count"):
        """The matrix among :attr:`matrix_ids`, in this thread; returns it."""
        if len(self._matrix_ids) == 0:
            raise DataError("choose the matrix's neurons first")
        connectivity = self.connectivity_of(self._matrix_ids, value)
        self.set_connectivity(connectivity)
        return connectivity

    def show_pair(self, pre: int, post: int):
        """Add the synapses from ``pre`` onto ``post`` as a layer ("synapses <pre>→<post>"); returns it."""
        from napari.layers import Layer

        pre, post = parse_id(pre, where="root id"), parse_id(post, where="root id")
        synapses = fetch_source(self.scene.dataset).synapses(pre_ids=[pre], post_ids=[post])
        layer = Layer.create(*cl.pair_layer_data(synapses, pre, post, units=self.scene.features))
        _replace_layer(self.scene.viewer, layer)
        self.events.pair_shown.emit((pre, post))
        return layer

    # -- new units -----------------------------------------------------------------------------
    def _units_changed(self) -> None:
        """New units: their colours start afresh, and what was shown of the old ones goes."""
        self._connection = self._restore = None
        self._highlighted = None
        _put_highlight(self.scene.viewer, None)
        self._partners = self._connectivity = None
        self.events.connection_colouring_changed.emit(None)
        self.events.highlighted.emit(None)
        self.events.partners_changed.emit(None)
        self.events.connectivity_changed.emit(None)
