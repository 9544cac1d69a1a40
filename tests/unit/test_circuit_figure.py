"""Circuit figures (src/napari_microns/circuit_figure.py): what the heatmap and the partner
panels draw, read back from the artists and from a written PNG."""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import AxesImage, imread

from napari_microns import circuit_figure as cf
from napari_microns.core import palettes
from napari_microns.core.errors import DataError
from napari_microns.core.synapses.circuit import Connectivity, Partners, partner_summary

BIG = 864691135572930000  # > 2**53: a float cannot hold it
LAYERS = pd.DataFrame({"layer": ["L1", "L2/3", "L4", "L5", "L6", "WM"],
                       "y_start": [0.0, 100.0, 270.0, 400.0, 620.0, 900.0],
                       "y_end": [100.0, 270.0, 400.0, 620.0, 900.0, 1000.0]})
LAYERS["height"] = LAYERS["y_end"] - LAYERS["y_start"]


def connectivity(values, labels=None, value="count", ids=None, order_by="cell_type", sizes=None) -> Connectivity:
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    ids = np.asarray(ids if ids is not None else BIG + 2 * np.arange(n) + 1, dtype=np.int64)
    matrix = pd.DataFrame(values, index=pd.Index(ids, name="pre", dtype=np.int64),
                          columns=pd.Index(ids, name="post", dtype=np.int64))
    series = None if labels is None else pd.Series(labels, index=pd.Index(ids, name="root_id"), name=order_by)
    return Connectivity(matrix, value, order_by if labels is not None else None, series, sizes)


def blocks(n_block=4):
    """12 ids in three groups: a block of pairs not covered, a block all connected (5 synapses)."""
    n = 3 * n_block
    m = np.zeros((n, n))
    m[:n_block, n_block:2 * n_block] = 5.0  # 23P -> BC, connected
    m[n_block:2 * n_block, :n_block] = np.nan  # BC -> 23P, not in the store
    m[2 * n_block, 2 * n_block] = 2.0
    labels = ["23P"] * n_block + ["BC"] * n_block + ["unknown"] * n_block
    return connectivity(m, labels)


def heatmap_image(fig) -> AxesImage:
    return next(im for im in fig.axes[0].images if im.get_gid() == "connectivity")


def test_the_image_is_the_matrix_in_its_order_and_uncovered_pairs_are_masked():
    rng = np.random.default_rng(3)
    m = rng.integers(0, 4, (7, 7)).astype(float)
    m[2, 5] = m[6, 0] = np.nan
    conn = connectivity(m, ["23P", "23P", "4P", "4P", "BC", "MC", "MC"])
    fig = cf.connectivity_figure(conn)
    shown = heatmap_image(fig).get_array()
    assert np.array_equal(shown.mask, np.isnan(m))
    assert np.array_equal(shown.filled(-1), np.where(np.isnan(m), -1, m))
    hatch = [p for p in fig.axes[0].patches if p.get_gid() == "not-in-store"]
    assert len(hatch) == 1 and hatch[0].get_hatch() and hatch[0].get_zorder() < heatmap_image(fig).get_zorder()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["23P", "4P", "BC", "MC", cf.NO_SYNAPSE, cf.NOT_IN_STORE]


def test_the_legend_says_not_in_the_store_only_when_some_pair_is_not():
    conn = connectivity(np.ones((3, 3)), ["23P", "BC", "BC"])
    labels = [t.get_text() for t in cf.connectivity_figure(conn).legends[0].get_texts()]
    assert cf.NOT_IN_STORE not in labels and cf.NO_SYNAPSE not in labels


@pytest.mark.parametrize("value, label", [("count", "synapses"), ("size", "summed synapse size"),
                                          ("log_size", "log10(1 + summed size)")])
def test_the_colour_bar_says_what_the_value_is(value, label):
    m = np.array([[0.0, 3.0], [np.nan, 1.0]])
    fig = cf.connectivity_figure(connectivity(m, value=value))
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() == label


def test_zero_is_below_the_map_and_drawn_as_the_page():
    conn = connectivity(np.array([[0.0, 3.0], [1.0, 7.0]]), value="count")
    for background in ("white", "black"):
        image = heatmap_image(cf.connectivity_figure(conn, background=background))
        assert image.norm.vmin == 1.0 and image.norm.vmax == 7.0
        assert np.allclose(image.to_rgba(np.array([0.0]))[0], cf.THEMES[background]["face"])


def test_group_strips_have_the_palette_colours():
    conn = blocks(2)
    fig = cf.connectivity_figure(conn)
    expected = np.array([palettes.CELL_TYPE["23P"]] * 2 + [palettes.CELL_TYPE["BC"]] * 2 + [palettes.UNKNOWN] * 2)
    for gid, axis in (("groups-top", 0), ("groups-left", 1)):
        strip = next(im for im in fig.axes[0].images if im.get_gid() == gid).get_array()
        assert np.allclose(np.squeeze(np.asarray(strip), axis=axis), expected)
    handles = fig.legends[0].legend_handles
    colours = {h.get_label(): h.get_facecolor() for h in handles}
    assert np.allclose(colours["23P"], palettes.CELL_TYPE["23P"]) and np.allclose(colours["unknown"], palettes.UNKNOWN)


def test_group_boundaries_are_drawn_between_contiguous_groups():
    fig = cf.connectivity_figure(blocks(3))
    lines = [c for c in fig.axes[0].collections if c.get_segments()]
    ys = sorted({round(seg[0][1], 6) for c in lines for seg in c.get_segments() if seg[0][1] == seg[1][1]})
    assert ys == [2.5, 5.5]


def test_pick_pair_maps_data_coordinates_to_exact_ids():
    ids = np.array([BIG + 1, BIG + 3, 2**62 + 1], dtype=np.int64)
    conn = connectivity(np.zeros((3, 3)), ids=ids)
    assert cf.pick_pair(conn, 0.0, 2.0) == (2**62 + 1, BIG + 1)  # x is the post column, y the pre row
    pre, post = cf.pick_pair(conn, 1.49, 0.51)
    assert (pre, post) == (BIG + 3, BIG + 3) and type(pre) is int
    assert cf.pick_pair(conn, 2.4, -0.4) == (BIG + 1, 2**62 + 1)
    for x, y in ((-0.6, 0.0), (0.0, 2.6), (3.0, 1.0), (None, 1.0), (np.nan, 1.0)):
        assert cf.pick_pair(conn, x, y) is None


def test_ids_label_small_matrices_and_groups_label_large_ones():
    small = connectivity(np.zeros((5, 5)), ["23P"] * 5)
    ax = cf.connectivity_figure(small).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(BIG + 2 * i + 1) for i in range(5)]
    rng = np.random.default_rng(0)
    n = 2000
    m = (rng.random((n, n)) < 0.02).astype(float)
    m[:300, 1200:1500] = np.nan
    labels = np.repeat(["23P", "4P", "BC", "MC"], [900, 600, 400, 100])
    fig = cf.connectivity_figure(connectivity(m, labels))
    fig.draw_without_rendering()
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    assert ticks and set(ticks) <= {"23P", "4P", "BC", "MC"} and len(ticks) <= 8
    assert heatmap_image(fig).get_array().shape == (n, n)


def test_a_png_shows_grey_for_pairs_not_in_the_store_and_the_map_for_connections(tmp_path):
    conn = blocks(4)
    fig = cf.connectivity_figure(conn, credit="Data: MICrONS Consortium, CC-BY 4.0")
    out = cf.save(fig, tmp_path / "matrix.png")
    assert out == tmp_path / "matrix.png" and not list(tmp_path.glob("*.tmp*"))
    pixels = imread(out)
    assert pixels.shape[:2] == (round(fig.get_figheight() * 200), round(fig.get_figwidth() * 200))
    ax, scale = fig.axes[0], 200 / fig.dpi

    def pixel(x, y):
        px, py = ax.transData.transform((x, y)) * scale
        return pixels[int(pixels.shape[0] - py), int(px), :3]

    grey = pixel(1.5, 5.5)  # the middle of the uncovered BC -> 23P block
    assert np.ptp(grey) < 0.03 and 0.5 < grey.mean() < 0.95
    image = heatmap_image(fig)
    assert np.allclose(pixel(5.5, 1.5), image.to_rgba(5.0)[:3], atol=0.02)  # 23P -> BC: 5 synapses
    assert np.allclose(pixel(9.5, 1.5), 1.0, atol=0.02)  # covered, no synapse: the white page


def test_save_chooses_the_format_by_extension(tmp_path):
    fig = cf.connectivity_figure(blocks(2))
    assert cf.save(fig, tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")
    assert cf.save(fig, tmp_path / "m.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(DataError):
        cf.save(fig, tmp_path / "m.gif")


def partners_of(complete: bool, direction="inputs"):
    table = pd.DataFrame({"partner_root_id": np.array([BIG + 1, BIG + 2, BIG + 3, BIG + 4], dtype=np.int64),
                          "n_synapses": np.array([6, 3, 2, 1], dtype=np.int64),
                          "size_sum": np.array([600, 300, 200, 100], dtype=np.int64),
                          "cell_type": ["23P", "BC", np.nan, np.nan],
                          "in_units": [True, True, True, False]})
    table["size_mean"] = table["size_sum"] / table["n_synapses"]
    for col in ("classification_system", "layer", "brain_area", "proofreading"):
        table[col] = np.nan
    depth = np.array([30.0, 150, 160, 170, 300, 310, 320, 450, 460, 500, 650, np.nan])
    synapses = pd.DataFrame({"id": np.arange(12), "pre_pt_root_id": BIG, "post_pt_root_id": BIG + 1,
                             "size": 100, "ctr_pt_position_x": 0.0, "ctr_pt_position_y": depth,
                             "ctr_pt_position_z": 0.0})
    note = f"12 inputs of {BIG} from 4 partners" + ("" if complete else "; INCOMPLETE: counts are lower bounds")
    return Partners(BIG, direction, table, synapses, complete, note)


def texts(fig):
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def test_the_partners_figure_names_the_neuron_the_layers_and_an_incomplete_store():
    p = partners_of(complete=False)
    fig = cf.partners_figure(p, partner_summary(p), LAYERS, synthetic=True, credit="Data: MICrONS")
    words = texts(fig)
    title = next(t for t in fig.texts if t.get_gid() == "title").get_text()
    assert str(BIG) in title and "Inputs" in title and title.startswith("SYNTHETIC sample")
    note = next(t for t in fig.texts if t.get_gid() == "note")
    assert "INCOMPLETE" in note.get_text() and np.allclose(note.get_color(), cf.THEMES["white"]["warn"])
    assert {"L1", "L2/3", "L4", "L5", "L6", "WM"} <= set(words) and "Data: MICrONS" in words
    depth_ax = fig.axes[1]
    bottom, top = depth_ax.get_ylim()
    assert bottom > top and top <= 0  # pia at the top, depth down
    counts = sum(patch.get_width() for patch in depth_ax.patches)
    assert counts == 11  # every synapse with a depth, once
    complete = partners_of(complete=True)
    note = next(t for t in cf.partners_figure(complete, partner_summary(complete)).texts if t.get_gid() == "note")
    assert "INCOMPLETE" not in note.get_text()
    assert not np.allclose(note.get_color(), cf.THEMES["white"]["warn"])


def test_partner_bars_use_the_palette_and_put_numbers_at_their_ends():
    p = partners_of(complete=True, direction="outputs")
    fig = cf.partners_figure(p, partner_summary(p))
    ax = fig.axes[0]
    names = [t.get_text().split(" (")[0] for t in ax.get_yticklabels()]
    assert names == ["23P", "BC", "unknown", "not in units"]  # palette order, ungrouped last
    colours = [bar.get_facecolor() for bar in ax.patches]
    assert np.allclose(colours[0], palettes.CELL_TYPE["23P"]) and np.allclose(colours[1], palettes.CELL_TYPE["BC"])
    assert np.allclose(colours[2], palettes.UNKNOWN) and np.allclose(colours[3], palettes.UNKNOWN)
    assert [bar.get_width() for bar in ax.patches] == [6, 3, 2, 1]
    ends = [t.get_text().strip() for t in ax.texts]
    assert ends == ["6 (50%)", "3 (25%)", "2 (17%)", "1 (8%)"]
    assert "Outputs" in next(t for t in fig.texts if t.get_gid() == "title").get_text()


def test_black_pages_have_light_text():
    fig = cf.partners_figure(partners_of(True), partner_summary(partners_of(True)), LAYERS, background="black")
    assert np.allclose(fig.get_facecolor(), (0, 0, 0, 1))
    assert np.allclose(matplotlib.colors.to_rgba(fig.axes[0].xaxis.label.get_color()), cf.THEMES["black"]["text"])
    with pytest.raises(DataError, match="background"):
        cf.connectivity_figure(blocks(2), background="grey")


def test_connection_sizes_are_a_log_histogram_of_connected_covered_pairs():
    sizes = np.array([[0.0, 1000.0, np.nan], [250.0, 0.0, 40000.0], [np.nan, 8000.0, 0.0]])
    conn = connectivity(sizes, value="size", sizes=sizes)
    fig = cf.connection_size_histogram(conn)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert sum(p.get_height() for p in ax.patches) == 4
    both = cf.connectivity_figure(conn, sizes=True)
    assert len([a for a in both.axes if a.get_xscale() == "log"]) == 1


def test_the_module_is_pure_matplotlib():
    path = Path(cf.__file__)
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    assert not {n for n in names if n.split(".")[0] in ("napari", "qtpy", "PyQt5", "PySide2")}
    assert not {n for n in names if "pyplot" in n}


def test_pooling_keeps_the_strongest_pair_of_each_block_and_masks_uncovered_blocks():
    values = np.zeros((5, 5))
    values[0, 1], values[3, 3], values[4, 0] = 2.0, 7.0, 1.0
    covered = np.ones((5, 5), dtype=bool)
    covered[:2, 2:4] = False  # block (0, 1) entirely uncovered
    pooled, side = cf.pool_matrix(values, covered, 2)
    assert side == 6 and pooled.shape == (3, 3)
    assert pooled[0, 0] == 2.0 and pooled[1, 1] == 7.0 and pooled[2, 0] == 1.0 and pooled[2, 2] == 0.0
    assert pooled.mask.tolist() == [[False, True, False], [False, False, False], [False, False, False]]
