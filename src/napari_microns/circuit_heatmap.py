"""The connectivity heatmap: the pre x post matrix with group strips, its value map and norm,
what a click on it means (:func:`pick_pair`), and pooling for small canvases. Pure matplotlib."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .circuit_style import MAX_ID_LABELS, NO_SYNAPSE, NOT_IN_STORE, VALUE_LABELS, figure_legend, group_palette, style, theme
from .core import palettes
from .core.errors import DataError

def cmap_for(background: str):
    """The value map: viridis without its end nearest the page (so the weakest connection stands
    out from it), reversed on white; zero (under) is the page, uncovered (bad) transparent."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    t = theme(background)
    ramp = np.linspace(0.0, 0.88, 256)[::-1] if t["cmap"] else np.linspace(palettes.BRIGHT_START, 1.0, 256)
    cmap = ListedColormap(matplotlib.colormaps[palettes.SEQUENTIAL_MAP](ramp), name="circuit")
    return cmap.with_extremes(under=t["face"], bad=(0, 0, 0, 0))


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


def pool_matrix(values: np.ndarray, covered: np.ndarray, size: int) -> tuple[np.ma.MaskedArray, int]:
    """The matrix max-pooled in blocks of ``size`` x ``size`` ids (a block shows its strongest
    covered pair; masked when it has none), and the padded side in ids: a matrix larger than
    the canvas keeps its sparse connections visible instead of averaging them into the page."""
    n = values.shape[0]
    m = -(-n // size)
    padded = np.full((m * size, m * size), np.nan)
    padded[:n, :n] = np.where(covered, values, np.nan)
    blocks = padded.reshape(m, size, m, size).swapaxes(1, 2).reshape(m, m, size * size)
    empty = np.isnan(blocks).all(axis=2)
    pooled = np.where(empty, 0.0, np.nanmax(np.where(empty[..., None], 0.0, blocks), axis=2))
    return np.ma.array(pooled, mask=empty), m * size


def draw_heatmap(ax, conn, background: str = "white", colorbar: bool = True, legend: bool = True,
                 max_id_labels: int = MAX_ID_LABELS, pool_to: int | None = None) -> Heatmap:
    """Draw ``conn.matrix`` into ``ax`` (pre rows, post columns; data coordinates: column x, row y).
    ``pool_to``: above this many ids, draw blocks of ids max-pooled (:func:`pool_matrix`) so the
    image has at most that many pixels a side (a small canvas); data coordinates stay ids."""
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator

    with style(background) as t:
        values = conn.matrix.to_numpy(dtype=float)
        n = values.shape[0]
        covered = np.asarray(conn.covered, dtype=bool)
        norm, clipped = value_norm(conn)
        smooth = {"interpolation": "antialiased", "interpolation_stage": "rgba"} if n > 600 else \
            {"interpolation": "nearest"}
        ax.add_patch(Rectangle((-0.5, -0.5), n, n, facecolor=t["uncovered"], edgecolor=t["hatch"],
                               hatch="////", linewidth=0, zorder=1, gid="not-in-store"))
        shown, side = np.ma.array(values, mask=~covered), n
        if pool_to is not None and n > pool_to:
            shown, side = pool_matrix(values, covered, -(-n // int(pool_to)))
            smooth = {"interpolation": "nearest"}
        image = ax.imshow(shown, cmap=cmap_for(background), norm=norm, aspect="equal", zorder=2,
                          extent=(-0.5, side - 0.5, side - 0.5, -0.5), **smooth)
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


def pick_pair(conn, x, y) -> tuple[int, int] | None:
    """The (pre, post) root ids of the heatmap cell at data coordinates (x, y), or None off the matrix."""
    if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
        return None
    col, row = int(np.floor(float(x) + 0.5)), int(np.floor(float(y) + 0.5))
    n_rows, n_cols = conn.matrix.shape
    if not (0 <= row < n_rows and 0 <= col < n_cols):
        return None
    return int(conn.matrix.index[row]), int(conn.matrix.columns[col])
