"""Figures of a circuit: connectivity matrices and one neuron's partners, for papers.

Pure matplotlib ``Figure`` objects (no pyplot, napari or Qt) drawn from the core's
:class:`~.core.synapses.circuit.Connectivity` and :class:`~.core.synapses.circuit.Partners`;
the Qt panels embed them or draw into their own axes with the ``draw_*`` helpers, the CLI saves
them headless (:func:`save`). The matrix (pre rows, post columns) is on viridis without its end
nearest the page (reversed on white: strong is dark), zero is the page, pairs the store does
not cover are hatched grey; group strips in the units palette of ``order_by``. Partner figures:
synapses by partner group, and their depth (pia at the top) across the cortical layers.
"""

from __future__ import annotations

import contextlib
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .core import palettes
from .core.errors import DataError

#: What a matrix value is, for its colour bar.
VALUE_LABELS = {"count": "synapses", "size": "summed synapse size", "log_size": "log10(1 + summed size)"}
NOT_IN_STORE = "not in the store"
NO_SYNAPSE = "no synapse"
#: Grey groups, last: ids in the units without the label, and partners not in the units.
UNGROUPED = ("unknown", "not in units")
#: Above this many ids the heatmap's axes name groups, not ids.
MAX_ID_LABELS = 60
#: Default dpi by extension (vector formats keep the matrix as one embedded image at 300 dpi).
DPI = {".png": 200, ".svg": 300, ".pdf": 300}
SUMMARY_NUMBERS = ("n_partners", "n_synapses", "size_sum", "share")
THEMES = {
    "white": {"face": (1.0, 1.0, 1.0, 1.0), "text": (0.2, 0.2, 0.2, 1.0), "muted": (0.45, 0.45, 0.45, 1.0),
              "line": (0.55, 0.55, 0.55, 1.0), "uncovered": (0.86, 0.86, 0.86, 1.0),
              "hatch": (0.62, 0.62, 0.62, 1.0), "warn": (0.85, 0.37, 0.01, 1.0), "cmap": "_r"},
    "black": {"face": (0.0, 0.0, 0.0, 1.0), "text": (0.9, 0.9, 0.9, 1.0), "muted": (0.65, 0.65, 0.65, 1.0),
              "line": (0.5, 0.5, 0.5, 1.0), "uncovered": (0.22, 0.22, 0.22, 1.0),
              "hatch": (0.42, 0.42, 0.42, 1.0), "warn": (1.0, 0.65, 0.2, 1.0), "cmap": ""},
}


def theme(background: str) -> dict:
    """The colours of a page: ``background`` is "white" or "black"."""
    if background not in THEMES:
        raise DataError(f"background {background!r} is not known; choose one of: {', '.join(THEMES)}")
    return THEMES[background]


@contextlib.contextmanager
def _style(background: str):
    """Text, ticks and spines in the page's contrast colour for artists made inside."""
    import matplotlib

    t = theme(background)
    rc = {"figure.facecolor": t["face"], "axes.facecolor": t["face"], "savefig.facecolor": t["face"],
          "axes.edgecolor": t["text"], "axes.labelcolor": t["text"], "text.color": t["text"],
          "xtick.color": t["text"], "ytick.color": t["text"], "xtick.labelcolor": t["text"],
          "ytick.labelcolor": t["text"], "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 9,
          "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7, "legend.frameon": False,
          "hatch.linewidth": 0.6}
    with matplotlib.rc_context(rc):
        yield t


def cmap_for(background: str):
    """The value map: viridis without its end nearest the page (so the weakest connection stands
    out from it), reversed on white; zero (under) is the page, uncovered (bad) transparent."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    t = theme(background)
    ramp = np.linspace(0.0, 0.88, 256)[::-1] if t["cmap"] else np.linspace(0.12, 1.0, 256)
    cmap = ListedColormap(matplotlib.colormaps[palettes.SEQUENTIAL_MAP](ramp), name="circuit")
    return cmap.with_extremes(under=t["face"], bad=(0, 0, 0, 0))


def group_palette(column: str | None, labels) -> dict[str, tuple]:
    """Label -> RGBA from the units palette of ``column``; ungrouped partners are grey."""
    known = [str(v) for v in pd.Series(list(labels)).dropna().unique() if str(v) not in UNGROUPED]
    palette = palettes.palette_for(column or "group", known)
    palette.update({name: palettes.UNKNOWN for name in UNGROUPED})
    return palette


def _groups(labels: np.ndarray) -> list[tuple[str, int, int]]:
    """Runs of equal labels in matrix order: (label, start, stop)."""
    if not len(labels):
        return []
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    stops = np.r_[starts[1:], len(labels)]
    return [(str(labels[a]), int(a), int(b)) for a, b in zip(starts, stops)]


@dataclass
class Heatmap:
    """What :func:`draw_heatmap` drew: the matrix image, its colour bar, legend handles, groups."""

    image: object
    colorbar: object | None
    handles: list = field(default_factory=list)
    groups: list = field(default_factory=list)  # (label, start, stop) in matrix order
    colors: dict = field(default_factory=dict)  # label -> RGBA of the group strips


def value_norm(conn):
    """Linear norm from the smallest to the largest positive value (99.5th percentile when
    there are many, the rest saturate); zero falls below it and is drawn as the page."""
    from matplotlib.colors import Normalize

    values = conn.matrix.to_numpy(dtype=float)
    positive = values[np.asarray(conn.covered, dtype=bool) & (values > 0)]
    if not len(positive):
        return Normalize(1.0, 2.0), False
    lo, hi = float(positive.min()), float(positive.max())
    top = float(np.percentile(positive, 99.5)) if len(positive) > 200 else hi
    if conn.value == "count":
        top = float(math.ceil(top))
    top = max(top, lo)
    if top <= lo:
        lo = top / 2.0
    return Normalize(lo, top), top < hi


def draw_heatmap(ax, conn, background: str = "white", colorbar: bool = True, legend: bool = True,
                 max_id_labels: int = MAX_ID_LABELS) -> Heatmap:
    """Draw ``conn.matrix`` into ``ax`` (pre rows, post columns; data coordinates: column x, row y)."""
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator

    with _style(background) as t:
        values = conn.matrix.to_numpy(dtype=float)
        n = values.shape[0]
        covered = np.asarray(conn.covered, dtype=bool)
        norm, clipped = value_norm(conn)
        smooth = {"interpolation": "antialiased", "interpolation_stage": "rgba"} if n > 600 else \
            {"interpolation": "nearest"}
        ax.add_patch(Rectangle((-0.5, -0.5), n, n, facecolor=t["uncovered"], edgecolor=t["hatch"],
                               hatch="////", linewidth=0, zorder=1, gid="not-in-store"))
        image = ax.imshow(np.ma.array(values, mask=~covered), cmap=cmap_for(background), norm=norm,
                          aspect="equal", zorder=2, **smooth)
        image.set_gid("connectivity")
        ax.add_patch(Rectangle((-0.5, -0.5), n, n, fill=False, edgecolor=t["line"], linewidth=0.6, zorder=4))
        for spine in ax.spines.values():
            spine.set_visible(False)
        result = Heatmap(image, None)
        outer = _group_strips(ax, conn, n, t, result) if conn.labels is not None and n else -0.5
        ax.set_xlim(outer, n - 0.5)
        ax.set_ylim(n - 0.5, outer)
        _heatmap_ticks(ax, conn, result.groups, n, max_id_labels)
        if (covered & (values == 0)).any():
            result.handles.append(Patch(facecolor=t["face"], edgecolor=t["line"], linewidth=0.5, label=NO_SYNAPSE))
        if (~covered).any():
            result.handles.append(Patch(facecolor=t["uncovered"], edgecolor=t["hatch"], hatch="////",
                                        linewidth=0, label=NOT_IN_STORE))
        if colorbar:
            cb = ax.figure.colorbar(image, ax=ax, shrink=0.55, aspect=22, pad=0.02,
                                    extend="max" if clipped else "neither")
            cb.set_label(VALUE_LABELS.get(conn.value, str(conn.value)))
            cb.outline.set_edgecolor(t["line"])
            if conn.value == "count":
                cb.locator = MaxNLocator(integer=True)
                cb.update_ticks()
            result.colorbar = cb
        if legend and result.handles:
            figure_legend(ax.figure, result.handles)
    return result


def _group_strips(ax, conn, n: int, t: dict, result: Heatmap) -> float:
    """Colour strips of the groups above and left of the matrix, lines between contiguous
    groups; returns the outer edge of the strips (data coordinates)."""
    from matplotlib.patches import Patch

    labels = pd.Series(conn.labels).astype("string").fillna("unknown").to_numpy(dtype=str)
    if len(labels) != n:
        raise DataError(f"the connectivity has {n} ids but {len(labels)} group labels")
    result.groups = _groups(labels)
    result.colors = group_palette(conn.order_by, labels)
    rgba = np.array([result.colors.get(v, palettes.UNKNOWN) for v in labels], dtype=float)
    edge = -0.5 - max(0.008 * n, 0.2)
    outer = edge - max(0.03 * n, 0.8)
    ax.imshow(rgba[None], extent=(-0.5, n - 0.5, edge, outer), zorder=2, interpolation="nearest", gid="groups-top")
    ax.imshow(rgba[:, None], extent=(outer, edge, n - 0.5, -0.5), zorder=2, interpolation="nearest",
              gid="groups-left")
    if 1 < len(result.groups) == len(set(labels)):  # contiguous groups: mark their edges
        at = [a - 0.5 for _, a, _ in result.groups[1:]]
        ax.hlines(at, outer, n - 0.5, colors=[t["line"]], linewidths=0.5, zorder=3)
        ax.vlines(at, outer, n - 0.5, colors=[t["line"]], linewidths=0.5, zorder=3)
    result.handles = [Patch(facecolor=result.colors[g], label=g) for g in dict.fromkeys(g for g, _, _ in result.groups)]
    return outer


def _heatmap_ticks(ax, conn, groups, n: int, max_id_labels: int) -> None:
    """Root ids on both axes up to ``max_id_labels`` ids; beyond, group names at group centres
    (those tall enough for a line of text), else none."""
    if 0 < n <= max_id_labels:
        names = [str(int(r)) for r in conn.matrix.index]
        size = 6 if n <= 30 else 4.5
        ax.set_yticks(range(n), names, fontsize=size)
        ax.set_xticks(range(n), [str(int(r)) for r in conn.matrix.columns], fontsize=size, rotation=90)
        ax.tick_params(length=1.5, width=0.4, pad=1)
    else:
        height_pt = ax.bbox.height * 72.0 / ax.figure.dpi
        big = [(g, (a + b - 1) / 2) for g, a, b in groups if (b - a) / max(n, 1) * height_pt >= 9]
        ax.set_yticks([c for _, c in big], [g for g, _ in big])
        ax.set_xticks([c for _, c in big], [g for g, _ in big], rotation=90)
        ax.tick_params(length=0, pad=2)
    ax.set_ylabel(f"presynaptic neuron ({n:,})")
    ax.set_xlabel(f"postsynaptic neuron ({n:,})")


def figure_legend(fig, handles, ncol: int | None = None):
    """One legend below the axes (outside them under constrained layout)."""
    engine = fig.get_layout_engine()
    loc = "outside lower center" if engine is not None and type(engine).__name__ == "ConstrainedLayoutEngine" \
        else "lower center"
    across = max(1, int(fig.get_figwidth() // 1.25))
    return fig.legend(handles=handles, loc=loc, ncol=ncol or min(len(handles), across), handlelength=1.2,
                      columnspacing=1.2)


def pick_pair(conn, x, y) -> tuple[int, int] | None:
    """The (pre, post) root ids of the heatmap cell at data coordinates (x, y), or None off the matrix."""
    if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
        return None
    col, row = int(np.floor(float(x) + 0.5)), int(np.floor(float(y) + 0.5))
    n_rows, n_cols = conn.matrix.shape
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        return None
    return int(conn.matrix.index[row]), int(conn.matrix.columns[col])


def draw_size_histogram(ax, sizes, background: str = "white", bins: int = 40) -> None:
    """Histogram of connection sizes on a log axis, with the log-normal of their log mean and spread."""
    import matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with _style(background) as t:
        sizes = np.asarray(sizes, dtype=float)
        sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
        ax.set_xscale("log")
        ax.set_xlabel("summed synapse size per connection (voxels)")
        ax.set_ylabel("connections")
        _open_spines(ax)
        if not len(sizes):
            ax.text(0.5, 0.5, "no connections in the store", transform=ax.transAxes, ha="center",
                    color=t["muted"])
            return
        edges = np.logspace(np.log10(sizes.min()) - 0.05, np.log10(sizes.max()) + 0.05, bins + 1)
        fill = matplotlib.colormaps[palettes.SEQUENTIAL_MAP](0.35 if background == "white" else 0.6)
        counts, _, _ = ax.hist(sizes, bins=edges, color=fill, edgecolor=t["face"], linewidth=0.3)
        logs = np.log10(sizes)
        mu, sigma = float(logs.mean()), float(logs.std())
        handles = [Patch(facecolor=fill, label=f"{len(sizes):,} connections")]
        if len(sizes) >= 10 and sigma > 0:
            cdf = np.array([0.5 * (1 + math.erf((np.log10(e) - mu) / (sigma * math.sqrt(2)))) for e in edges])
            expected = len(sizes) * np.diff(cdf)
            centres = np.sqrt(edges[:-1] * edges[1:])
            ax.plot(centres, expected, color=t["text"], linewidth=1.0, linestyle="--")
            handles.append(Line2D([], [], color=t["text"], linewidth=1.0, linestyle="--",
                                  label=f"log-normal: median {10 ** mu:,.0f}, σ {sigma:.2f} dex"))
        ax.set_ylim(0, max(counts.max(), 1) * 1.15)
        ax.legend(handles=handles, loc="upper right", fontsize=6.5)


def summary_group_column(summary: pd.DataFrame) -> str:
    """The grouping column of a partner summary (the one that is not a number it reports)."""
    others = [c for c in summary.columns if c not in SUMMARY_NUMBERS]
    if len(others) != 1:
        raise DataError(f"a partner summary has one group column besides {', '.join(SUMMARY_NUMBERS)}; "
                        f"this one has {others or 'none'}")
    return others[0]


def draw_partner_bars(ax, summary: pd.DataFrame, background: str = "white", direction: str = "inputs") -> None:
    """Horizontal bars of synapses by partner group (palette order, ungrouped last), numbers at the ends."""
    with _style(background) as t:
        by = summary_group_column(summary)
        names = summary[by].astype("string").fillna(UNGROUPED[0]).to_numpy(dtype=str)
        palette = group_palette(by, names)
        rank = {name: i for i, name in enumerate(palette)}
        order = sorted(range(len(names)), key=lambda i: (names[i] in UNGROUPED, rank.get(names[i], len(rank)),
                                                         names[i]))
        names = names[order]
        n_syn = summary["n_synapses"].to_numpy(dtype=np.int64)[order]
        n_cells = summary["n_partners"].to_numpy(dtype=np.int64)[order]
        total = max(int(n_syn.sum()), 1)
        colors = [palette.get(name, palettes.UNKNOWN) for name in names]
        ypos = np.arange(len(names))
        ax.barh(ypos, n_syn, color=colors, height=0.72, edgecolor=t["line"], linewidth=0.3, gid="partner-bars")
        for y, value in zip(ypos, n_syn):
            ax.text(value, y, f" {value:,} ({value / total:.0%})", va="center", ha="left", fontsize=7,
                    color=t["text"])
        ax.set_yticks(ypos, [f"{name} ({c:,} cell{'s' if c != 1 else ''})" for name, c in zip(names, n_cells)])
        ax.set_ylim(max(len(names), 1) - 0.5, -0.5)
        ax.set_xlim(0, max(int(n_syn.max()) if len(n_syn) else 1, 1) * 1.3)
        if not len(names):
            ax.text(0.5, 0.5, "no partners in the store", transform=ax.transAxes, ha="center", color=t["muted"])
        ax.set_xlabel("synapses" + {"inputs": " received", "outputs": " made"}.get(direction, ""))
        ax.set_ylabel(f"{'presynaptic' if direction == 'inputs' else 'postsynaptic'} partner {by.replace('_', ' ')}")
        ax.tick_params(axis="y", length=0)
        _open_spines(ax)


def draw_depth_histogram(ax, synapses: pd.DataFrame, layers: pd.DataFrame | None = None,
                         background: str = "white", direction: str = "inputs", bin_um: float = 20.0) -> None:
    """Synapses per ``bin_um`` of depth below the pia (pia at the top), the cortical layers marked."""
    from matplotlib.transforms import blended_transform_factory

    with _style(background) as t:
        key = "input" if direction == "inputs" else "output"
        colours = palettes.SYNAPSE_DIRECTION_ON_WHITE if background == "white" else palettes.SYNAPSE_DIRECTION
        depth = np.asarray(synapses.get("ctr_pt_position_y", []), dtype=float)
        depth = depth[np.isfinite(depth)]
        has_layers = layers is not None and len(layers)
        bounds = layers[["y_start", "y_end"]].to_numpy(dtype=float) if has_layers else np.empty((0, 2))
        top = min(0.0, float(depth.min()) if len(depth) else 0.0)
        deepest = float(depth.max()) if len(depth) else 0.0
        bottom = max(deepest + bin_um, float(bounds[:, 0].max()) + 2 * bin_um if len(bounds) else bin_um)
        if len(depth):
            edges = np.arange(np.floor(top / bin_um) * bin_um, bottom + bin_um, bin_um)
            ax.hist(depth, bins=edges, orientation="horizontal", color=colours[key], edgecolor=t["face"],
                    linewidth=0.3, gid="depth-histogram")
        else:
            ax.text(0.5, 0.5, "no synapse positions in the store", transform=ax.transAxes, ha="center", color=t["muted"])
        ax.set_ylim(bottom, top)  # depth grows downward: pia at the top
        side = blended_transform_factory(ax.transAxes, ax.transData)
        if has_layers:
            for y in np.unique(np.round(bounds.ravel(), 2)):
                if top <= y <= bottom:
                    ax.axhline(y, color=t["line"], linewidth=0.5, linestyle=":", zorder=0)
            for name, (y0, y1) in zip(layers["layer"].astype(str), bounds):
                if y0 < bottom:
                    ax.text(1.02, (y0 + min(y1, bottom)) / 2, name, transform=side, ha="left", va="center",
                            fontsize=7, color=t["text"], clip_on=False, gid=f"layer-{name}")
        ax.set_ylabel("depth below pia (µm)")
        ax.set_xlabel(f"{key} synapses per {bin_um:g} µm")
        _open_spines(ax)


def _open_spines(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


# -- whole figures ---------------------------------------------------------------------------

def _new_figure(figsize, background: str):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained", facecolor=theme(background)["face"])
    FigureCanvasAgg(fig)
    return fig


def _frame(fig, background: str, title: str | None, synthetic: bool, credit: str | None,
           note: str | None = None, warn: bool = False) -> None:
    """Title (marked SYNTHETIC for the generated sample), a note line under it, the data credit
    at the bottom right; the axes keep clear of all three."""
    t = theme(background)
    if synthetic:
        title = f"SYNTHETIC sample - {title}" if title else "SYNTHETIC sample data"
    height, top = fig.get_figheight(), 0.08
    lines = [(title, 9.5, t["text"], "title"), (note, 7.5, t["warn"] if warn else t["muted"], "note")]
    for text, size, color, gid in [line for line in lines if line[0]]:  # wrapped to the page's width
        text = textwrap.fill(text, max(30, int(fig.get_figwidth() * 72 / (0.6 * size))))
        fig.text(0.5, 1 - top / height, text, ha="center", va="top", fontsize=size, color=color, gid=gid,
                 fontweight="bold" if synthetic and gid == "title" else "normal")
        top += (text.count("\n") + 1) * size * 1.3 / 72 + 0.06
    bottom = 0.0
    if credit:
        fig.text(0.995, 0.06 / height, credit, ha="right", va="bottom", fontsize=6, color=t["muted"], gid="credit")
        bottom = 0.2
    reserved = (bottom + top) / height
    fig.get_layout_engine().set(rect=(0.0, bottom / height, 1.0, 1.0 - reserved))  # left, bottom, width, height


def connectivity_figure(conn, background: str = "white", title: str | None = None, synthetic: bool = False,
                        credit: str | None = None, sizes: bool = False, figsize=None):
    """The connectivity matrix as a figure; ``sizes`` adds the histogram of connection sizes."""
    with _style(background):
        fig = _new_figure(figsize or ((11.0, 6.6) if sizes else (7.6, 7.0)), background)
        if sizes:
            grid = fig.add_gridspec(1, 2, width_ratios=(2.4, 1))
            ax, hist_ax = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
        else:
            ax, hist_ax = fig.add_subplot(), None
        default, coverage = _connectivity_title(conn)
        _frame(fig, background, title or default, synthetic, credit, coverage)
        draw_heatmap(ax, conn, background)
        if hist_ax is not None:
            draw_size_histogram(hist_ax, conn.connection_sizes(), background)
            hist_ax.set_box_aspect(1.0)
    return fig


def connection_size_histogram(conn, background: str = "white", title: str | None = None,
                              synthetic: bool = False, credit: str | None = None, figsize=(4.8, 3.8)):
    """The summed synapse size of each connection the store covers, on a log axis."""
    with _style(background):
        fig = _new_figure(figsize, background)
        ax = fig.add_subplot()
        _frame(fig, background, title or "Connection sizes", synthetic, credit)
        draw_size_histogram(ax, conn.connection_sizes(), background)
    return fig


def partners_figure(partners, summary: pd.DataFrame, layers: pd.DataFrame | None = None,
                    background: str = "white", title: str | None = None, synthetic: bool = False,
                    credit: str | None = None, figsize=(9.0, 4.6)):
    """One neuron's partners: synapses by partner group, and the depth of its synapses."""
    n_syn = int(summary["n_synapses"].sum()) if len(summary) else 0
    n_cells = int(summary["n_partners"].sum()) if len(summary) else 0
    word = "from" if partners.direction == "inputs" else "onto"
    head = f"{partners.direction.capitalize()} of {int(partners.root_id)}: {n_syn:,} synapses {word} " \
           f"{n_cells:,} partners"
    with _style(background):
        fig = _new_figure(figsize, background)
        bars_ax, depth_ax = fig.subplots(1, 2, width_ratios=(1.7, 1))
        _frame(fig, background, f"{title} - {head}" if title else head, synthetic, credit,
               partners.note or None, warn=not partners.complete)
        draw_partner_bars(bars_ax, summary, background, partners.direction)
        draw_depth_histogram(depth_ax, partners.synapses, layers, background, partners.direction)
    return fig


def _connectivity_title(conn) -> tuple[str, str]:
    """The default title, and a line on how much the store covers."""
    n, order = conn.matrix.shape[0], f", ordered by {conn.order_by.replace('_', ' ')}" if conn.order_by else ""
    covered = np.asarray(conn.covered, dtype=bool)
    connected = int((covered & (conn.matrix.to_numpy(dtype=float) > 0)).sum())
    share = covered.mean() if covered.size else 0.0
    return (f"Connectivity of {n:,} neurons{order}",
            f"{connected:,} connected pairs; {share:.0%} of {covered.size:,} pairs in the store")


def save(fig, path, dpi: int | None = None) -> Path:
    """Write ``fig`` by the extension (.png at 200 dpi; .svg and .pdf as vectors, text as text,
    the matrix one embedded image at 300 dpi), atomically (:func:`.figure2d.save`)."""
    from .figure2d import save as save_figure

    out = Path(path).expanduser()
    return save_figure(fig, out, int(dpi or DPI.get(out.suffix.lower(), 200)))
