"""2D vector figures of chosen neurons: skeletons projected on a plane, for papers.

A pure function of core data (matplotlib only, no napari or Qt): the neurons' skeletons
(``Dataset.skeleton``) drawn as one ``LineCollection`` per neuron, coloured by compartment
with the 3D scene's colours made for a white page (:data:`~.core.palettes.COMPARTMENT_ON_WHITE`) and the vertex radius as
line width; their synapses (``Dataset.synapses``) as small dots coloured by direction;
the cortical layer boundaries (``Dataset.layers``) as horizontal lines named at the side;
a depth axis in µm below the pia (pia at the top), a scale bar and a legend of what is
drawn. ``view="front"`` puts x across, ``"side"`` z; depth is always down.
``lineup=True`` sets the neurons side by side, each labelled with its root id and cell type.

Saved by extension (.svg, .pdf with editable text, .png at ``dpi``), written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .core import palettes
from .core.errors import DataError, StorageError
from .core.ids import parse_ids
from .core.morphology.types import SWC_SOMA

#: view -> (index of the horizontal axis in the pia-aligned µm frame, its name)
VIEWS = {"front": (0, "x"), "side": (2, "z")}
FORMATS = (".svg", ".pdf", ".png")
#: Line widths (points): the thinnest drawn (so thin processes stay visible) and the widest.
MIN_LINE_WIDTH = 0.35
MAX_LINE_WIDTH = 3.0
#: The smallest soma drawn, radius in points.
MIN_SOMA_POINTS = 2.5
SOMA_EDGE = (0.15, 0.15, 0.15, 1.0)
LAYER_LINE = (0.55, 0.55, 0.55, 1.0)
TEXT = (0.2, 0.2, 0.2, 1.0)
UNLABELLED = "unlabelled"
#: Width of a lineup label (an 18-digit root id at 7 pt), points.
LABEL_POINTS = 80.0


def check_output(out, dpi: int = 300) -> Path:
    """The output path, checked before any work: a known extension, an existing folder."""
    out = Path(out).expanduser()
    if out.suffix.lower() not in FORMATS:
        raise DataError(f"cannot write {out.name!r}: a 2D figure is saved as {', '.join(FORMATS)} (by the extension)")
    if out.is_dir():
        raise StorageError(f"{out} is a folder; name the file to write")
    if not out.parent.is_dir():
        raise StorageError(f"the folder {out.parent} does not exist; create it first or choose another place")
    if int(dpi) < 1:
        raise DataError(f"dpi must be at least 1 (got {dpi})")
    return out


def figure2d(dataset, root_ids, out=None, view: str = "front", synapses: bool = True, lineup: bool = False,
             title: str | None = None, width_in: float | None = None, height_in: float = 6.0, dpi: int = 300,
             synapse_size: float | None = None):
    """Draw the neurons ``root_ids`` of ``dataset`` projected on a plane; return the matplotlib ``Figure``.

    ``view``: ``"front"`` (x across) or ``"side"`` (z across), depth below the pia down.
    ``synapses``: add each neuron's inputs and outputs from the local synapse store as dots of
    ``synapse_size`` (points²; default: smaller the more synapses, 0.3 to 2). ``lineup``: set the neurons side by side, labelled by root id
    and cell type. ``width_in`` (default: from the neurons' extent) and ``height_in`` in
    inches. ``out``: save as .svg, .pdf or .png (at ``dpi``); the folder must exist.
    """
    if view not in VIEWS:
        raise DataError(f"view {view!r} is not known; choose one of: {', '.join(VIEWS)}")
    if out is not None:
        out = check_output(out, dpi)
    ids = [int(r) for r in parse_ids(root_ids, "root id", where="root_ids", unique=True, allow_empty=False)]
    for name, value in (("height_in", height_in), ("width_in", width_in)):
        if value is not None and not 0.5 <= float(value) <= 100:
            raise DataError(f"{name} must be between 0.5 and 100 inches (got {value})")
    axis = VIEWS[view][0]
    layers = dataset.layers()
    neurons = [_neuron(dataset, rid, axis, synapses) for rid in ids]
    if lineup:
        _line_up(neurons, _label_width_um(neurons, layers, height_in))
    if synapse_size is None:  # thousands of dots must not hide the skeleton
        n_syn = sum(len(xy) for n in neurons for xy in n.synapse_points.values())
        synapse_size = float(np.clip(2500.0 / max(n_syn, 1), 0.3, 2.0))
    fig = _draw(neurons, layers, view, lineup, _title(dataset, title), width_in, height_in, synapse_size)
    if lineup:
        _label(fig.axes[0], neurons, _cell_types(dataset, ids))
    fig.draw_without_rendering()
    _set_widths(fig.axes[0], neurons)
    if out is not None:
        save(fig, out, dpi)
    return fig


def save(fig, out, dpi: int = 300) -> Path:
    """Write ``fig`` to ``out`` by its extension, atomically (text stays text in SVG and PDF)."""
    import matplotlib

    from .core.layout import atomic_path

    out = check_output(out, dpi)
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}), atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lower()[1:], dpi=int(dpi))
    return out


# -- data ------------------------------------------------------------------------------

class _Neuron:
    """One neuron's projected pieces: 2D points (across, depth) and what colours them."""

    def __init__(self, root_id, points, edges, radius, compartment, root, synapse_points):
        self.root_id = root_id
        self.points = points  # (N, 2)
        self.edges = edges  # (M, 2) child -> parent
        self.radius = radius  # (N,) µm
        self.compartment = compartment  # (N,)
        self.root = root
        self.synapse_points = synapse_points  # {"input": (K, 2), "output": (L, 2)}
        self.collection = None
        self.soma = None

    def shift(self, dx: float) -> None:
        self.points = self.points + (dx, 0.0)
        self.synapse_points = {k: v + (dx, 0.0) for k, v in self.synapse_points.items()}

    def extent(self) -> tuple[float, float, float, float]:
        """(left, right, top, bottom) of the skeleton and its synapses."""
        allp = np.vstack([self.points, *self.synapse_points.values()])
        return allp[:, 0].min(), allp[:, 0].max(), allp[:, 1].min(), allp[:, 1].max()


def _neuron(dataset, root_id: int, axis: int, with_synapses: bool) -> _Neuron:
    sk = dataset.skeleton(root_id)
    if sk.n_vertices == 0:
        raise DataError(f"the skeleton of root id {root_id} has no vertices; nothing to draw")
    points = sk.vertices_um[:, [axis, 1]].astype(float)
    found = {}
    if with_synapses:
        for direction, side in (("input", "post_ids"), ("output", "pre_ids")):
            try:
                syn = dataset.synapses(**{side: [root_id]})
            except DataError as exc:
                raise DataError(f"{exc} (or draw without synapses: synapses=False, --no-synapses)") from None
            cols = [f"ctr_pt_position_{'xyz'[axis]}", "ctr_pt_position_y"]
            xy = syn[cols].to_numpy(dtype=float) if len(syn) else np.empty((0, 2))
            xy = xy[np.isfinite(xy).all(axis=1)]
            if len(xy):
                found[direction] = xy
    return _Neuron(root_id, points, np.asarray(sk.edges, dtype=np.int64).reshape(-1, 2),
                   np.asarray(sk.radius_um, dtype=float), np.asarray(sk.compartment), int(sk.root), found)


def _line_up(neurons: list[_Neuron], min_slot: float = 0.0) -> None:
    """Shift each neuron to the right of the one before it, with a gap; each takes at least
    ``min_slot`` µm (its label's width), centred in it."""
    widths = [n.extent()[1] - n.extent()[0] for n in neurons]
    gap = max(30.0, 0.15 * max(widths))
    cursor = 0.0
    for n, w in zip(neurons, widths):
        slot = max(w, min_slot)
        n.shift(cursor + (slot - w) / 2 - n.extent()[0])
        cursor += slot + gap


def _label_width_um(neurons: list[_Neuron], layers, height_in: float) -> float:
    """A lineup label's width (an 18-digit id at 7 pt) in µm at the scale the figure's
    height gives (depth decides the scale when the width is left to fit the neurons)."""
    ext = np.array([n.extent() for n in neurons])
    bottom = max([ext[:, 3].max(), *layers[["y_start", "y_end"]].to_numpy(dtype=float).ravel()])
    span = 1.09 * (bottom - min(0.0, ext[:, 2].min()))
    points_per_um = max(height_in - 1.2, 0.5) * 72.0 / max(span, 1.0)
    return LABEL_POINTS / points_per_um


def _cell_types(dataset, ids: list[int]) -> dict[int, str]:
    try:
        units = dataset.units()
    except DataError:
        return {}
    if "cell_type" not in units or "pt_root_id" not in units:
        return {}
    rows = units.loc[units["pt_root_id"].isin(ids), ["pt_root_id", "cell_type"]].dropna()
    return {int(r): str(t) for r, t in zip(rows["pt_root_id"], rows["cell_type"])}


def _title(dataset, title: str | None) -> str | None:
    from .sample import is_sample

    if is_sample(dataset.layout):
        return f"SYNTHETIC sample - {title}" if title else "SYNTHETIC sample data"
    return title


# -- drawing -------------------------------------------------------------------------------

def _compartment_style(code: int) -> tuple[str, tuple]:
    if code in palettes.COMPARTMENT_NAMES:
        return palettes.COMPARTMENT_NAMES[code], palettes.COMPARTMENT_ON_WHITE[code]
    return UNLABELLED, palettes.UNKNOWN


def _draw(neurons, layers, view, lineup, title, width_in, height_in, synapse_size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    ext = np.array([n.extent() for n in neurons])
    left, right = ext[:, 0].min(), ext[:, 1].max()
    bounds = layers[["y_start", "y_end"]].to_numpy(dtype=float) if len(layers) else np.empty((0, 2))
    top = min(0.0, ext[:, 2].min())
    bottom = max([ext[:, 3].max(), *bounds.ravel()])
    span_x = max(right - left, 50.0)
    pad_x = 0.06 * span_x
    strip = 0.07 * (bottom - top)  # an empty strip at the bottom for the scale bar
    xlim = (left - pad_x, left + span_x + pad_x) if right - left >= 50 else ((left + right) / 2 - 25 - pad_x,
                                                                             (left + right) / 2 + 25 + pad_x)
    ylim = (bottom + strip, top - 0.02 * (bottom - top))
    if width_in is None:
        ratio = (xlim[1] - xlim[0]) / (ylim[0] - ylim[1])
        width_in = float(np.clip((height_in - 1.2) * ratio + 2.2, 3.0, 14.0))
    fig = Figure(figsize=(width_in, height_in), layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)  # depth grows downward: pia at the top
    ax.set_aspect("equal", adjustable="box")

    drawn: dict[str, tuple] = {}
    for n in neurons:
        codes = n.compartment[n.edges[:, 0]] if len(n.edges) else np.empty(0, dtype=int)
        colors = np.array([_compartment_style(int(c))[1] for c in codes]).reshape(-1, 4)
        segments = n.points[n.edges] if len(n.edges) else np.empty((0, 2, 2))
        n.collection = LineCollection(segments, colors=colors, linewidths=MIN_LINE_WIDTH, capstyle="round",
                                      joinstyle="round", zorder=2)
        n.collection.set_gid(f"neuron-{n.root_id}")
        ax.add_collection(n.collection, autolim=False)
        for c in np.unique(codes):
            name, color = _compartment_style(int(c))
            drawn.setdefault(name, color)
        for direction, xy in n.synapse_points.items():
            ax.scatter(xy[:, 0], xy[:, 1], s=synapse_size, c=[palettes.SYNAPSE_DIRECTION_ON_WHITE[direction]],
                       linewidths=0, alpha=0.8, zorder=3, gid=f"synapses-{direction}-{n.root_id}")
            drawn.setdefault(f"{direction} synapse", palettes.SYNAPSE_DIRECTION_ON_WHITE[direction])
        n.soma = Circle(tuple(n.points[n.root]), radius=1.0, facecolor=palettes.COMPARTMENT_ON_WHITE[SWC_SOMA],
                        edgecolor=SOMA_EDGE, linewidth=0.6, zorder=4)
        ax.add_patch(n.soma)
        drawn.setdefault("soma", palettes.COMPARTMENT_ON_WHITE[SWC_SOMA])

    _draw_layers(ax, layers)
    _decorate(ax, view, lineup, title)
    _scale_bar(ax, xlim)
    _legend(fig, drawn)
    return fig


def _draw_layers(ax, layers) -> None:
    from matplotlib.transforms import blended_transform_factory

    if not len(layers):
        return
    for y in np.unique(np.round(layers[["y_start", "y_end"]].to_numpy(dtype=float).ravel(), 2)):
        ax.axhline(y, color=LAYER_LINE, linewidth=0.6, zorder=1)
    side = blended_transform_factory(ax.transAxes, ax.transData)
    for name, y0, y1 in zip(layers["layer"].astype(str), layers["y_start"], layers["y_end"]):
        ax.text(1.01, (float(y0) + float(y1)) / 2, name, transform=side, ha="left", va="center",
                fontsize=8, color=TEXT, clip_on=False)


def _decorate(ax, view, lineup, title) -> None:
    from matplotlib.ticker import MultipleLocator

    for spine in ("top", "right", "bottom"):
        ax.spines[spine].set_visible(False)
    ax.set_xticks([])
    span = abs(ax.get_ylim()[0] - ax.get_ylim()[1])
    ax.yaxis.set_major_locator(MultipleLocator(100 if span > 400 else 50))
    ax.set_ylabel("depth below pia (µm)", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    if not lineup:
        ax.set_xlabel(f"{view} view ({VIEWS[view][1]} across)", fontsize=8, color=TEXT)
    if title:
        ax.set_title(title, fontsize=10)


def _scale_bar(ax, xlim) -> None:
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    target = (xlim[1] - xlim[0]) / 5
    length = max([v for v in (10, 20, 50, 100, 200, 500, 1000, 2000) if v <= target] or [10])
    bar = AnchoredSizeBar(ax.transData, length, f"{length} µm", loc="lower right", frameon=False, pad=0.3,
                          size_vertical=0, color="black", fontproperties={"size": 8})
    bar.set_gid("scale-bar")
    ax.add_artist(bar)


def _legend(fig, drawn: dict[str, tuple]) -> None:
    from matplotlib.lines import Line2D

    order = ["soma", *(palettes.COMPARTMENT_NAMES[c] for c in (2, 3, 4)), UNLABELLED,
             "input synapse", "output synapse"]
    handles = []
    for label in [k for k in order if k in drawn]:
        color = drawn[label]
        if label == "soma":
            h = Line2D([], [], marker="o", linestyle="", markerfacecolor=color, markeredgecolor=SOMA_EDGE,
                       markersize=6, label=label)
        elif label.endswith("synapse"):
            h = Line2D([], [], marker="o", linestyle="", color=color, markersize=4, label=label)
        else:
            h = Line2D([], [], color=color, linewidth=2.5, label=label)
        handles.append(h)
    across = int(fig.get_figwidth() // 1.7)  # legend columns that fit the figure's width
    fig.legend(handles=handles, loc="outside lower center", ncol=max(1, min(len(handles), across, 4)),
               frameon=False, fontsize=8)


def _label(ax, neurons, cell_types: dict[int, str]) -> None:
    from matplotlib.transforms import blended_transform_factory

    below = blended_transform_factory(ax.transData, ax.transAxes)
    for n in neurons:
        left, right = n.extent()[:2]
        ax.text((left + right) / 2, -0.01, f"{n.root_id}\n{cell_types.get(n.root_id, 'type unknown')}",
                transform=below, ha="center", va="top", fontsize=7, color=TEXT, clip_on=False)


def _set_widths(ax, neurons) -> None:
    """Line widths from the vertex radius at the drawn scale (points per µm), within bounds."""
    (x0, _), (x1, _) = ax.transData.transform([(0.0, 0.0), (1.0, 0.0)])
    points_per_um = abs(x1 - x0) * 72.0 / ax.figure.dpi
    for n in neurons:
        if len(n.edges):
            diameter = 2 * np.nan_to_num(n.radius[n.edges[:, 0]], nan=0.0)
            n.collection.set_linewidths(np.clip(diameter * points_per_um, MIN_LINE_WIDTH, MAX_LINE_WIDTH))
        r = float(np.nan_to_num(n.radius[n.root], nan=0.0))
        n.soma.set_radius(max(r, MIN_SOMA_POINTS / points_per_um))
