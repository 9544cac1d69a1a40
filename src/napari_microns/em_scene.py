"""EM imagery and segmentation in the scene, as a model with events beside :class:`~.scene.Scene`.

:class:`EmScene` holds the cutout shown (:class:`~.core.em.Cutout`) and puts it in the viewer as
two layers (:mod:`.em_layers`): the grey image and the segmentation, the chosen neurons' segments
in their scene colours (``Scene.color_of``), placed in the scene's frame so a slab sits among the
neuron's skeleton, mesh and synapses. Where to cut comes from :meth:`EmScene.centre_options`: the
chosen neuron's soma, the synapse selected in a synapse layer, or the camera's centre.
:meth:`EmScene.cutout_of` reads the volume without touching the viewer (run it in a worker) and
:meth:`EmScene.show` puts the result in the viewer on the UI thread. The EM panel calls these
methods and follows :attr:`EmScene.events`.
"""

from __future__ import annotations

import numpy as np
from psygnal import Signal, SignalGroup

from . import em_layers as el
from . import layer_data as ld
from .camera import camera_of
from .core.errors import DataError
from .scene import Scene, _named, _replace_layer, fetch_source

#: Where a cutout can be centred (:meth:`EmScene.centre_options`), in menu order.
CENTRES = ("soma", "synapse", "camera")
#: Defaults of a cutout: a 10 µm square slab of one section, with its segmentation.
DEFAULT_SIZE_UM = 10.0
MAX_SECTIONS = 64


class EmEvents(SignalGroup):
    """What an :class:`EmScene` announces, on the UI thread."""

    #: the cutout shown (a ``Cutout``), or None when the EM layers were taken away
    cutout_changed = Signal(object)


def _update_em_layer(layer, data, kwargs) -> None:
    """Put another cutout into an EM layer already shown (removing and adding napari layers costs
    the UI thread far more than new data)."""
    layer.data = data
    layer.affine = kwargs["affine"]
    if "contrast_limits" in kwargs:
        layer.contrast_limits = kwargs["contrast_limits"]
    if "colormap" in kwargs and kwargs["metadata"][ld.KIND_KEY] == el.KIND_EM_SEGMENTATION:
        layer.colormap = kwargs["colormap"]
    layer.metadata = kwargs["metadata"]


class EmScene:
    """The EM cutout of one :class:`~.scene.Scene` (made by the dock widget, or by a script)."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self.events = EmEvents()
        self._cutout = None
        scene.events.neurons_changed.connect(self._neurons_changed)
        scene.events.dataset_changed.connect(lambda _dataset: self.clear())

    @property
    def cutout(self):
        """The cutout shown (``Cutout``), or None."""
        return self._cutout

    # -- where to cut ----------------------------------------------------------------------
    def centre_options(self) -> dict[str, dict | None]:
        """Each of :data:`CENTRES` -> the ``Dataset.em_cutout`` keywords that centre a cutout
        there, or None when there is nothing to centre on (no neuron chosen, no synapse selected)."""
        return {"soma": self._soma(), "synapse": self._selected_synapse(), "camera": self._camera_centre()}

    def centre(self, option: str) -> dict:
        """The keywords of one centre option, or a one-line error saying what to do first."""
        if option not in CENTRES:
            raise DataError(f"EM is centred at one of {', '.join(CENTRES)} (got {option!r})")
        where = self.centre_options()[option]
        if where is None:
            raise DataError({"soma": "choose a neuron first (Neurons panel)",
                             "synapse": "select a synapse in a synapse layer first (the Select points tool)",
                             "camera": "no 3D view to take a centre from"}[option])
        return where

    def _soma(self) -> dict | None:
        chosen = self.scene.chosen
        return None if not chosen else {"root_id": int(chosen[0]), "root_ids": [int(chosen[0])]}

    def _selected_synapse(self) -> dict | None:
        viewer = self.scene.viewer
        layers = [lyr for lyr in viewer.layers if ld.layer_kind(lyr) == ld.KIND_SYNAPSES and lyr.selected_data]
        active = viewer.layers.selection.active
        layers.sort(key=lambda lyr: lyr is not active)  # the active layer's selection first
        if not layers:
            return None
        layer = layers[0]
        row = min(layer.selected_data)
        centre = ld.from_display(layer.data[row])[0]
        ids = [int(layer.features[c].iat[row]) for c in ("pre_pt_root_id", "post_pt_root_id") if c in layer.features]
        return {"center": tuple(float(v) for v in centre), "root_ids": ids}

    def _camera_centre(self) -> dict | None:
        viewer = self.scene.viewer
        if viewer.dims.ndim < 3:
            return None
        point = np.asarray(viewer.dims.point, dtype=np.float64)
        displayed = list(viewer.dims.displayed)
        centre = np.asarray(camera_of(viewer).center, dtype=np.float64)[-len(displayed):]
        point[displayed] = centre
        return {"center": tuple(float(v) for v in ld.from_display(point[-3:])[0]), "root_ids": []}

    # -- the cutout ------------------------------------------------------------------------
    def cutout_of(self, where: dict, size_um: float = DEFAULT_SIZE_UM, sections: int = 1,
                  segmentation: bool = True):
        """The cutout at ``where`` (from :meth:`centre`) from the dataset (worker-safe: the viewer
        is not touched)."""
        if not np.isfinite(size_um) or size_um <= 0:
            raise DataError(f"the EM size must be a positive number of µm (got {size_um})")
        if not 1 <= int(sections) <= MAX_SECTIONS:
            raise DataError(f"EM sections must be 1 (a slab) to {MAX_SECTIONS} (got {sections})")
        where = dict(where)
        root_ids = sorted({*where.pop("root_ids", []), *(int(r) for r in self.scene.chosen)})
        return fetch_source(self.scene.dataset).em_cutout(
            **where, size_um=float(size_um), z_sections=int(sections), segmentation=bool(segmentation),
            root_ids=root_ids or None)

    def colours(self, cutout) -> dict[int, tuple]:
        """Root id -> RGBA of the segments coloured: the chosen neurons and the cutout's asked ids."""
        ids = {*(int(r) for r in self.scene.chosen), *(int(r) for r in cutout.masks)}
        return {rid: self.scene.color_of(rid) for rid in sorted(ids)}

    def show(self, cutout) -> list:
        """Put ``cutout`` in the viewer (replacing the EM layers shown); returns the new layers.
        New EM layers go to the bottom of the list: drawn first, so a translucent mesh around the
        slab blends over it (a layer drawn later behind a mesh's surface would be hidden by it)."""
        from napari.layers import Layer

        viewer = self.scene.viewer
        layers = []
        for index, (data, kwargs, kind) in enumerate(el.em_layer_data(cutout, self.colours(cutout))):
            old = viewer.layers[kwargs["name"]] if kwargs["name"] in viewer.layers else None
            if old is not None and ld.layer_kind(old) == kwargs["metadata"][ld.KIND_KEY]:  # in place: 10x faster
                _update_em_layer(old, data, kwargs)
                layers.append(old)
                continue
            layer = Layer.create(data, kwargs, kind)
            _replace_layer(viewer, layer)
            if old is None:
                viewer.layers.move(viewer.layers.index(layer), index)
            layers.append(layer)
        if cutout.segmentation is None:
            self._remove(el.EM_SEGMENTATION_LAYER)
        self._cutout = cutout
        self.events.cutout_changed.emit(cutout)
        return layers

    def show_at(self, option: str, **kwargs):
        """:meth:`centre`, :meth:`cutout_of` and :meth:`show` in this thread; returns the cutout."""
        cutout = self.cutout_of(self.centre(option), **kwargs)
        self.show(cutout)
        return cutout

    def clear(self) -> None:
        """Take the EM layers away."""
        self._remove(el.EM_IMAGE_LAYER)
        self._remove(el.EM_SEGMENTATION_LAYER)
        if self._cutout is not None:
            self._cutout = None
            self.events.cutout_changed.emit(None)

    def _remove(self, name: str) -> None:
        layer = _named(self.scene.viewer, name)
        if layer is not None:
            self.scene.viewer.layers.remove(layer)

    def _neurons_changed(self, _ids) -> None:
        """New chosen neurons: their segments take their colours."""
        layer = _named(self.scene.viewer, el.EM_SEGMENTATION_LAYER)
        if layer is None or self._cutout is None or self._cutout.segmentation is None:
            return
        layer.colormap = el.segment_colors(np.asarray(layer.metadata["root_ids"], dtype=np.uint64),
                                           self.colours(self._cutout))
