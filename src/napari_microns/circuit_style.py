"""The look every circuit figure shares: page themes (white for print, black as napari), the
rc style artists are made in, group colours from the units palettes, and the figure legend.
Pure matplotlib; :mod:`.circuit_heatmap` and :mod:`.circuit_figure` draw with it."""

from __future__ import annotations

import contextlib

import pandas as pd

from .core import palettes
from .core.errors import DataError

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
def style(background: str):
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


def group_palette(column: str | None, labels) -> dict[str, tuple]:
    """Label -> RGBA from the units palette of ``column``; ungrouped partners are grey."""
    known = [str(v) for v in pd.Series(list(labels)).dropna().unique() if str(v) not in UNGROUPED]
    palette = palettes.palette_for(column or "group", known)
    palette.update({name: palettes.UNKNOWN for name in UNGROUPED})
    return palette


def figure_legend(fig, handles, ncol: int | None = None):
    """One legend below the axes (outside them under constrained layout)."""
    engine = fig.get_layout_engine()
    loc = "outside lower center" if engine is not None and type(engine).__name__ == "ConstrainedLayoutEngine" \
        else "lower center"
    across = max(1, int(fig.get_figwidth() // 1.25))
    return fig.legend(handles=handles, loc=loc, ncol=ncol or min(len(handles), across), handlelength=1.2,
                      columnspacing=1.2)
