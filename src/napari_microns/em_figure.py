"""2D figures of EM imagery: one section of a :class:`~.core.em.Cutout` in grey, the chosen
neurons' segments coloured over it (the other segments as faint outlines), a scale bar in µm, a
ring at a synapse, a title with the ids and the data's credit (or "SYNTHETIC sample").

Pure matplotlib (a ``Figure``, no pyplot, napari or Qt). The axes' data units are µm along the
image's voxel axes, from the centre of voxel (0, 0): voxel ``(i, j)`` is drawn at
``(i * dx, j * dy)`` with ``dx, dy`` the voxel sizes in µm, depth (y) running down as in the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Credit of the real imagery.
CREDIT = "EM: MICrONS Consortium, CC-BY 4.0"
SYNTHETIC = "SYNTHETIC sample"
#: Opacity of the chosen neurons' segments over the image, and of the other segments' outlines.
SEGMENT_ALPHA = 0.4
OTHER_OUTLINE = (0.55, 0.85, 1.0, 0.6)
#: The synapse ring's colour.
RING_COLOR = (1.0, 0.85, 0.1, 1.0)


@dataclass
class EmFigure:
    """What :func:`em_figure` drew (the tests and the CLI read it)."""

    figure: object
    ax: object
    image: object  # the AxesImage of the grey section
    overlay: object | None  # the AxesImage of the segmentation (RGBA), or None
    scale_bar: object  # the bar (a Rectangle), data units = µm
    scale_um: float
    marker: object | None  # the synapse ring (a Circle), or None
    section: int  # the image's k index drawn


def voxel_size_um(cutout) -> np.ndarray:
    """µm per voxel along i, j, k (the lengths of the affine's columns)."""
    return np.linalg.norm(np.asarray(cutout.affine, dtype=np.float64)[:3, :3], axis=0)


def centre_section(cutout) -> int:
    """The k index of the section through the cutout's centre."""
    k = float(cutout.um_to_voxel(cutout.center_um)[0, 2])
    return int(np.clip(np.round(k), 0, cutout.image.shape[2] - 1))


def nice_length(width_um: float) -> float:
    """A round scale-bar length near a fifth of ``width_um`` (1, 2 or 5 x 10^n µm)."""
    target = max(width_um / 5.0, 1e-3)
    base = 10.0 ** np.floor(np.log10(target))
    return float(max(v * base for v in (1, 2, 5) if v * base <= target) if target >= base else base)


def outlines(labels: np.ndarray) -> np.ndarray:
    """Bool (rows, cols): pixels with a 4-neighbour of another label (0 included)."""
    edge = np.zeros(labels.shape, dtype=bool)
    across, down = labels[:, :-1] != labels[:, 1:], labels[:-1, :] != labels[1:, :]
    edge[:, :-1] |= across
    edge[:, 1:] |= across
    edge[:-1, :] |= down
    edge[1:, :] |= down
    return edge


def segmentation_rgba(section: np.ndarray, colors: dict[int, tuple], others: tuple = OTHER_OUTLINE) -> np.ndarray:
    """(rows, cols, 4) float: the coloured neurons' segments filled (``SEGMENT_ALPHA``) and outlined,
    other segments outlined faintly (``others``), unsegmented pixels transparent."""
    seg = np.asarray(section, dtype=np.uint64)
    rgba = np.zeros((*seg.shape, 4), dtype=np.float64)
    edge = outlines(seg)
    rgba[edge & (seg != 0)] = others
    for rid, color in colors.items():
        mask = seg == np.uint64(int(rid))
        c = np.asarray(color, dtype=np.float64)[:3]
        rgba[mask] = (*c, SEGMENT_ALPHA)
        rgba[mask & edge] = (*c, 1.0)
    return rgba


def em_figure(cutout, colors: dict[int, tuple] | None = None, marker_um=None, title: str | None = None,
              synthetic: bool = False, scale_um: float | None = None, width_in: float = 5.0,
              labels: dict[int, str] | None = None):
    """The section through the cutout's centre as a figure (see the module docstring); ``colors``:
    root id -> RGBA of the segments to colour (in a legend, named by ``labels`` or the id);
    ``marker_um``: a point (x, y, z µm) to ring."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Patch, Rectangle

    colors = colors or {}
    k = centre_section(cutout)
    dx, dy, _ = voxel_size_um(cutout)
    section = np.asarray(cutout.image)[:, :, k].T  # rows = j (depth), cols = i
    nx, ny = section.shape[1], section.shape[0]
    extent = (-0.5 * dx, (nx - 0.5) * dx, (ny - 0.5) * dy, -0.5 * dy)
    fig = Figure(figsize=(width_in, width_in * ny / nx + 0.6), layout="constrained", facecolor="white")
    ax = fig.add_subplot()
    from .em_layers import contrast_limits

    lo, hi = contrast_limits(section)
    image = ax.imshow(section, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
    overlay = None
    if cutout.segmentation is not None:
        overlay = ax.imshow(segmentation_rgba(np.asarray(cutout.segmentation)[:, :, k].T, colors),
                            extent=extent, interpolation="nearest")
    width_um = nx * dx
    scale_um = float(scale_um or nice_length(width_um))
    x0, y0 = extent[0] + 0.05 * width_um, extent[2] - 0.06 * ny * dy
    bar = Rectangle((x0, y0), scale_um, 0.012 * ny * dy, facecolor="white", edgecolor="black", linewidth=0.5)
    bar.set_gid("scale-bar")
    ax.add_patch(bar)
    ax.text(x0 + scale_um / 2, y0 - 0.015 * ny * dy, f"{scale_um:g} µm", color="white", ha="center", va="bottom",
            fontsize=9, fontweight="bold")
    marker = None
    if marker_um is not None:
        i, j, _ = cutout.um_to_voxel(marker_um)[0]
        marker = Circle((i * dx, j * dy), radius=max(0.04 * width_um, 2 * dx), fill=False, edgecolor=RING_COLOR,
                        linewidth=1.8)
        marker.set_gid("synapse-ring")
        ax.add_patch(marker)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xticks([])
    ax.set_yticks([])
    depth = float(cutout.voxel_to_um([[nx / 2, ny / 2, k]])[0, 2])
    note = f"section z = {depth:.2f} µm, {cutout.resolution_nm[0]:g} nm pixels (mip {cutout.mip})"
    if colors and cutout.segmentation is not None:
        handles = [Patch(facecolor=tuple(c)[:3], edgecolor="none", label=(labels or {}).get(rid, str(rid)))
                   for rid, c in colors.items()]
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.7)
    lines = [SYNTHETIC] if synthetic else []
    ax.set_title("\n".join([*lines, *([title] if title else []), note]), fontsize=9)
    ax.text(0.99, 0.01, SYNTHETIC if synthetic else CREDIT, transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7, color=(1.0, 0.65, 0.2) if synthetic else "white", fontweight="bold" if synthetic else "normal",
            bbox={"facecolor": "black", "alpha": 0.6, "edgecolor": "none", "pad": 2}, gid="credit")
    return EmFigure(fig, ax, image, overlay, bar, scale_um, marker, k)


def dataset_em_figure(dataset, *, synapse_id=None, root_id=None, at=None, size_um: float = 10.0,
                      root_ids=(), segmentation: bool = True):
    """The EM figure of a dataset at a synapse (its pre and post cells coloured, a ring on it), a
    neuron's soma (that neuron coloured) or a point (µm; ``root_ids`` coloured)."""
    from .core.synapses import synapse_row
    from .layer_data import neuron_color
    from .sample import is_sample

    ids, marker, where, labels = [int(r) for r in root_ids], None, {}, {}
    if synapse_id is not None:
        syn = synapse_row(dataset.synapse_store, synapse_id)
        ids = [syn["pre"], syn["post"], *ids]
        marker, where = syn["center"], {"center": syn["center"]}
        title = f"synapse {syn['id']}: {syn['pre']} → {syn['post']}"
        labels = {syn["pre"]: f"pre {syn['pre']}", syn["post"]: f"post {syn['post']}"}
    elif root_id is not None:
        ids = [int(root_id), *ids]
        where, title = {"root_id": int(root_id)}, f"soma of {int(root_id)}"
    else:
        where = {"center": tuple(float(v) for v in at)}
        title = "at ({:.1f}, {:.1f}, {:.1f}) µm".format(*where["center"]) + (
            f"; {', '.join(str(r) for r in ids)}" if ids else "")
    ids = list(dict.fromkeys(ids))
    cutout = dataset.em_cutout(**where, size_um=size_um, segmentation=segmentation, root_ids=ids or None)
    colors = {rid: neuron_color(n) for n, rid in enumerate(ids)}
    drawn = em_figure(cutout, colors, marker_um=marker, title=title, synthetic=is_sample(dataset.layout), labels=labels)
    return drawn, cutout
