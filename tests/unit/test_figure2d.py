"""2D vector figures (``napari_microns.figure2d`` and ``napari-microns figure2d``) on the
synthetic sample: what is drawn, the three file formats, bad output paths, the CLI."""

from __future__ import annotations

import itertools
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from napari_microns.cli import main
from napari_microns.core.dataset import Dataset
from napari_microns.core.errors import DataError, StorageError
from napari_microns.figure2d import MIN_LINE_WIDTH, figure2d


@pytest.fixture(scope="module")
def ds(info):
    return Dataset(info.datadir, version=info.version)


def legend_labels(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def neuron_segments(fig, root_id):
    (coll,) = [c for c in fig.axes[0].collections if c.get_gid() == f"neuron-{root_id}"]
    return coll


def test_svg_has_one_collection_per_neuron_and_the_layer_names(ds, info, tmp_path):
    out = tmp_path / "fig.svg"
    figure2d(ds, info.root_ids[:3], out=out)
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    groups = re.findall(r'<g id="neuron-(\d+)"', svg)
    assert sorted(int(g) for g in groups) == sorted(info.root_ids[:3])
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)  # text stays text (editable in Illustrator)
    for name in ds.layers()["layer"].astype(str):
        assert name in texts
    assert "depth below pia (µm)" in texts
    assert any(t.endswith("µm") and t[0].isdigit() for t in texts)  # the scale bar
    assert [f.name for f in tmp_path.iterdir()] == ["fig.svg"]  # no temporary file left


def test_pdf_is_one_page(ds, info, tmp_path):
    out = tmp_path / "fig.pdf"
    figure2d(ds, info.root_ids[:1], out=out, view="side")
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 1


def test_png_has_the_asked_size(ds, info, tmp_path):
    out = tmp_path / "fig.png"
    figure2d(ds, info.root_ids[:2], out=out, width_in=4, height_in=5, dpi=50)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (200, 250)


@pytest.mark.parametrize("name", ["fig.jpg", "fig", "fig.svg.txt"])
def test_bad_extension_is_one_line_and_writes_nothing(ds, info, tmp_path, name):
    with pytest.raises(DataError) as exc:
        figure2d(ds, info.root_ids[:1], out=tmp_path / name)
    assert "\n" not in str(exc.value) and ".svg" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_an_error_and_not_created(ds, info, tmp_path):
    with pytest.raises(StorageError) as exc:
        figure2d(ds, info.root_ids[:1], out=tmp_path / "missing" / "fig.svg")
    assert "\n" not in str(exc.value) and "does not exist" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_view_and_ids_are_refused(ds, info):
    with pytest.raises(DataError, match="view 'top'"):
        figure2d(ds, info.root_ids[:1], view="top")
    with pytest.raises(DataError, match="root"):
        figure2d(ds, [])


def test_legend_lists_only_what_is_drawn(ds, info):
    compartments = {r: set(np.unique(ds.skeleton(r).compartment)) for r in info.root_ids}
    no_apical = next(r for r, c in compartments.items() if 4 not in c)
    with_apical = next(r for r, c in compartments.items() if 4 in c)
    labels = legend_labels(figure2d(ds, [no_apical]))
    assert "apical dendrite" not in labels
    assert {"soma", "axon", "basal dendrite", "input synapse", "output synapse"} <= set(labels)
    assert "apical dendrite" in legend_labels(figure2d(ds, [with_apical]))
    bare = legend_labels(figure2d(ds, [with_apical], synapses=False))
    assert not any("synapse" in label for label in bare)
    assert not any(c.get_gid() and c.get_gid().startswith("synapses-") for c in figure2d(
        ds, [with_apical], synapses=False).axes[0].collections)


def test_radius_sets_line_width_and_thin_processes_stay_visible(ds, info):
    fig = figure2d(ds, info.root_ids[:1], synapses=False)
    widths = np.asarray(neuron_segments(fig, info.root_ids[0]).get_linewidths())
    assert widths.min() >= MIN_LINE_WIDTH
    assert widths.max() > 2 * widths.min()  # thick apical trunk, thin axon


def test_lineup_sets_neurons_apart(ds, info):
    def x_ranges(fig):
        ranges = []
        for rid in info.root_ids:
            seg = np.asarray(neuron_segments(fig, rid).get_segments()).reshape(-1, 2)
            ranges.append((seg[:, 0].min(), seg[:, 0].max()))
        return sorted(ranges)

    def overlaps(ranges):
        return any(a[1] > b[0] for a, b in itertools.pairwise(ranges))

    assert overlaps(x_ranges(figure2d(ds, info.root_ids)))  # where they are: overlapping
    fig = figure2d(ds, info.root_ids, lineup=True)
    assert not overlaps(x_ranges(fig))
    texts = [t.get_text() for t in fig.axes[0].texts]
    units = ds.units().set_index("pt_root_id")
    for rid in info.root_ids:
        assert f"{rid}\n{units.loc[rid, 'cell_type']}" in texts
    renderer = fig.canvas.get_renderer()
    labels = sorted((b.x0, b.x1) for b in (t.get_window_extent(renderer) for t in fig.axes[0].texts
                                           if "\n" in t.get_text()))
    assert len(labels) == len(info.root_ids) and not overlaps(labels)  # labels readable, side by side


def test_lineup_labels_of_narrow_neurons_do_not_overlap(ds, info):
    narrow = min(info.root_ids, key=lambda r: np.ptp(ds.skeleton(r).vertices_um[:, 0]))
    fig = figure2d(ds, [narrow, info.root_ids[0] if narrow != info.root_ids[0] else info.root_ids[1]],
                   lineup=True, synapses=False, height_in=3)
    renderer = fig.canvas.get_renderer()
    (a, b) = sorted((e.x0, e.x1) for e in (t.get_window_extent(renderer) for t in fig.axes[0].texts
                                          if "\n" in t.get_text()))
    assert a[1] < b[0]


def test_cli_end_to_end(info, tmp_path, capsys):
    out = tmp_path / "cli.svg"
    ids = ",".join(str(r) for r in info.root_ids[:2])
    rc = main(["figure2d", "--datadir", str(info.datadir), "--version", str(info.version), "--root-ids", ids,
               "--out", str(out), "--view", "side", "--lineup", "--title", "two neurons"])
    assert rc == 0, capsys.readouterr().err
    svg = out.read_text()
    assert len(re.findall(r'<g id="neuron-', svg)) == 2 and "two neurons" in svg
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/fig.gif"], "cannot write 'fig.gif'"),
    (["--out", "{tmp}/nowhere/fig.png"], "does not exist"),
    (["--root-ids", "12abc"], "--root-ids"),
    (["--dpi", "0"], "dpi"),
])
def test_cli_errors_are_one_line(info, tmp_path, capsys, args, message):
    argv = ["figure2d", "--datadir", str(info.datadir), "--version", str(info.version),
            "--root-ids", str(info.root_ids[0]), "--out", str(tmp_path / "ok.png")]
    argv += [a.format(tmp=tmp_path) for a in args]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_cli_imports_no_napari(info, tmp_path):
    out = tmp_path / "fig.pdf"
    code = (
        "import sys\n"
        "from napari_microns.cli import main\n"
        f"rc = main(['figure2d', '--datadir', {str(info.datadir)!r}, '--version', '{info.version}', "
        f"'--root-ids', '{info.root_ids[0]}', '--out', {str(out)!r}, '--no-synapses'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('napari', 'qtpy', 'PyQt6', 'PyQt5', 'vispy'))\n"
        "assert rc == 0 and not bad, (rc, bad[:5])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF")
