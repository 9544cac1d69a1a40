"""Pure builders of the EM layers: a :class:`~.core.em.Cutout` in, napari layer-data tuples out.

A cutout's arrays have axes (x, y, z) and its ``affine`` maps a voxel index ``(i, j, k, 1)``
to pia-aligned µm ``(x, y, z, 1)``. The scene hands napari positions as ``(z, y, x)``
(:func:`.layer_data.to_display`), so the arrays are handed over as ``(k, j, i)`` and the napari
affine is the cutout's with both sides' axes reversed: voxel ``(i, j, k)`` is drawn exactly
where ``cutout.voxel_to_um`` puts it among the neurons and synapses. A slab (one section) is a
3D image one section deep, so it sits at its depth in the 3D scene.

The segmentation's root ids (uint64, too large for a GPU texture) become small labels
1..n (0 = no segment); the layer's ``metadata["root_ids"]`` (a list of exact ints, index =
label) says which root id each label is. (Not as ``features``: napari 0.9.2's Labels status
fails in 3D on a layer with features while the cursor has no view direction.) Imports no napari.
"""

from __future__ import annotations

import numpy as np

from .layer_data import KIND_KEY, LayerData

#: Layer kinds of the EM layers (``layer_data.layer_kind``); stored with saved layers.
KIND_EM_IMAGE = "em_image"
KIND_EM_SEGMENTATION = "em_segmentation"
#: Names of the EM layers.
EM_IMAGE_LAYER = "EM image"
EM_SEGMENTATION_LAYER = "EM segmentation"
#: Colour of the segments of neurons that are not chosen: faint, so the membranes show through.
OTHER_SEGMENTS = (1.0, 1.0, 1.0, 0.12)
NO_SEGMENT = (0.0, 0.0, 0.0, 0.0)
#: Opacity of the segmentation over the image.
SEGMENTATION_OPACITY = 0.5


def reverse_axes(matrix: np.ndarray) -> np.ndarray:
    """A (4, 4) homogeneous map with the order of its three input and output axes reversed."""
    p = np.eye(4)[[2, 1, 0, 3]]
    return p @ np.asarray(matrix, dtype=np.float64) @ p


def display_affine(cutout) -> np.ndarray:
    """napari's affine of the EM layers: data index ``(k, j, i)`` -> scene ``(z, y, x)`` µm."""
    return reverse_axes(cutout.affine)


def display_array(array: np.ndarray) -> np.ndarray:
    """A cutout array (x, y, z) as napari data (z, y, x)."""
    return np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0))


def contrast_limits(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """The image's ``low``-``high`` percentiles (EM has dark membranes and bright cytoplasm;
    voxels outside the volume, 0, are left out); never an empty range."""
    values = np.asarray(image)
    inside = values[values > 0]
    if inside.size == 0:
        return 0.0, 255.0
    lo, hi = (float(v) for v in np.percentile(inside, [low, high]))
    if hi <= lo:
        lo, hi = max(lo - 1.0, 0.0), lo + 1.0
    return lo, hi


def relabel(segmentation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root ids -> labels ``1..n`` (0 stays 0): ``(labels (uint32), root_ids)`` with
    ``root_ids[label]`` the root id of a label (``root_ids[0] == 0``), as uint64."""
    seg = np.asarray(segmentation, dtype=np.uint64)
    ids, inverse = np.unique(seg, return_inverse=True)
    if ids.size == 0 or ids[0] != 0:
        ids = np.concatenate([np.zeros(1, dtype=np.uint64), ids])
        inverse = inverse + 1
    return inverse.reshape(seg.shape).astype(np.uint32), ids


def segment_colors(root_ids: np.ndarray, neuron_colors: dict[int, tuple],
                   others: tuple = OTHER_SEGMENTS) -> dict:
    """A napari direct label colour map: label -> RGBA; the chosen neurons' labels in their
    colours, label 0 transparent, every other label ``others``."""
    colors: dict = {None: tuple(others), 0: NO_SEGMENT}
    wanted = {int(r): tuple(float(c) for c in rgba) for r, rgba in neuron_colors.items()}
    for label, rid in enumerate(np.asarray(root_ids, dtype=np.uint64).tolist()):
        if label and int(rid) in wanted:
            colors[label] = wanted[int(rid)]
    return colors


def _metadata(cutout, kind: str) -> dict:
    return {KIND_KEY: kind, "center_um": [float(v) for v in cutout.center_um],
            "resolution_nm": [float(v) for v in cutout.resolution_nm], "mip": int(cutout.mip),
            "source": cutout.image_source if kind == KIND_EM_IMAGE else cutout.segmentation_source}


def em_image_data(cutout, name: str = EM_IMAGE_LAYER) -> LayerData:
    """The EM image as a grey Image layer placed in the scene's frame."""
    image = np.asarray(cutout.image)
    kwargs = {
        "name": name, "affine": display_affine(cutout), "colormap": "gray",
        "contrast_limits": contrast_limits(image), "rendering": "mip", "blending": "translucent",
        "interpolation3d": "nearest", "units": "um", "metadata": _metadata(cutout, KIND_EM_IMAGE),
    }
    return display_array(image.astype(np.uint8, copy=False)), kwargs, "image"


def em_segmentation_data(cutout, neuron_colors: dict[int, tuple], others: tuple = OTHER_SEGMENTS,
                         name: str = EM_SEGMENTATION_LAYER) -> LayerData:
    """The segmentation as a Labels layer (labels ``1..n``; ``metadata["root_ids"][label]`` is the root id);
    the neurons of ``neuron_colors`` (root id -> RGBA) in their colours, other segments ``others``."""
    if cutout.segmentation is None:
        raise ValueError("this cutout has no segmentation")
    labels, root_ids = relabel(cutout.segmentation)
    metadata = _metadata(cutout, KIND_EM_SEGMENTATION)
    metadata["root_ids"] = [int(r) for r in root_ids.tolist()]
    metadata["coloured_root_ids"] = sorted(int(r) for r in neuron_colors if int(r) in set(root_ids.tolist()))
    kwargs = {
        "name": name, "affine": display_affine(cutout), "colormap": segment_colors(root_ids, neuron_colors, others),
        "opacity": SEGMENTATION_OPACITY, "rendering": "translucent",
        "blending": "translucent", "units": "um", "metadata": metadata,
    }
    return display_array(labels), kwargs, "labels"


def em_layer_data(cutout, neuron_colors: dict[int, tuple], others: tuple = OTHER_SEGMENTS) -> list[LayerData]:
    """The image and (when the cutout has one) the segmentation, in that order (the labels on top)."""
    layers = [em_image_data(cutout)]
    if cutout.segmentation is not None:
        layers.append(em_segmentation_data(cutout, neuron_colors, others))
    return layers


def label_of(metadata: dict, root_id: int) -> int | None:
    """The label of ``root_id`` in a segmentation layer (its ``metadata``), or None when absent."""
    root_ids = metadata["root_ids"]
    return root_ids.index(int(root_id)) if int(root_id) in root_ids else None

