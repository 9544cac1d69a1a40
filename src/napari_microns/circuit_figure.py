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

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from .circuit_heatmap import Heatmap, cmap_for, draw_heatmap, pick_pair, pool_matrix, value_norm
from .circuit_style import (DPI, MAX_ID_LABELS, NO_SYNAPSE, NOT_IN_STORE, SUMMARY_NUMBERS, THEMES, UNGROUPED,
                            VALUE_LABELS, figure_legend, group_palette, style, theme)
from .core import palettes
from .core.errors import DataError

__all__ = ["DPI", "MAX_ID_LABELS", "NOT_IN_STORE", "NO_SYNAPSE", "SUMMARY_NUMBERS", "THEMES", "UNGROUPED",
           "VALUE_LABELS", "Heatmap", "cmap_for", "connection_size_histogram", "connectivity_figure",
           "draw_depth_histogram", "draw_heatmap", "draw_partner_bars", "draw_size_histogram", "figure_legend",
           "group_palette", "partners_figure", "pick_pair", "pool_matrix", "save", "style", "summary_group_column",
           "theme", "value_norm"]

def draw_size_histogram(ax, sizes, background: str = "white", bins: int = 40) -> None:
    """Histogram of connection sizes on a log axis, with the log-normal of their log mean and spread."""
    import matplotlib
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with style(background) as t:
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
    with style(background) as t:
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
            share = value / total
            ax.text(value, y, f" {value:,} ({'<1%' if 0 < share < 0.005 else f'{share:.0%}'})", va="center",
                    ha="left", fontsize=7, color=t["text"])
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

    with style(background) as t:
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
    with style(background):
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
    with style(background):
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
    with style(background):
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
