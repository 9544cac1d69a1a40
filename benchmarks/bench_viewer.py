"""Benchmark: the napari scene (issue 5). Prints medians and the ratio to each target.

Targets, on a 2-core machine with software OpenGL (Mesa llvmpipe under Xvfb):

* 94,000 units from a processed folder to a drawn Points layer: < 1.5 s
  (``Scene.load``: read units + layers parquet, build layer data, add the
  Points/planes layers, draw one frame);
* switching the colour-by column: < 0.3 s (recolour + draw);
* one neuron's skeleton (~17,000 vertices), mesh (100,000 faces) and 20,000
  synapses added once cached: < 1 s (``Scene.fetch_now``: cache reads, layer
  data, add, draw);
* the UI thread never stalls > 100 ms during a fetch (the dock widget's
  thread-worker fetch of that neuron, uncached and cached; a 5 ms QTimer
  records the longest gap between its ticks). A third run hides the units so
  that frames are cheap: what remains is the plugin's own UI-thread work
  (inserting the layers the worker built).

The units are a full-scale synthetic volume (``napari_microns.sample`` proportions and
depths, 94,000 nuclei over the real volume's 1350 x 500 µm footprint,
processed by ``Dataset.process``). The skeleton is
the real basket cell ``../shared/realdata/neuron_864691135101289504/skeleton.json``
(16,720 vertices) when present, else a synthetic one of 17,000 vertices.

    python benchmarks/bench_viewer.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")

HERE = Path(__file__).resolve().parent
REAL_SKELETON = HERE.parent.parent / "shared" / "realdata" / "neuron_864691135101289504" / "skeleton.json"
N_UNITS = 94_000
ROOT = 864691135101289504
N_SYNAPSES = 20_000
MESH_FACES = 100_000


def processed_units(datadir: Path, n_units: int = N_UNITS):
    """``(dataset, units)``: a processed folder of ``n_units`` synthetic units over the whole volume."""
    from napari_microns import Dataset
    from napari_microns.sample import tables as sample_tables

    ds = Dataset(datadir, version=1300)
    cells = sample_tables.synthetic_units(n_units, seed=7, x_range=sample_tables.FULL_X_RANGE,
                                          z_range=sample_tables.FULL_Z_RANGE)
    sample_tables.write_raw_tables(ds.layout, sample_tables.raw_tables(cells))
    units, _ = ds.process()
    return ds, units


def build_folder(datadir: Path):
    """A processed 94k-unit folder with one neuron cached (skeleton, mesh) and its synapses stored."""
    from napari_microns import Dataset
    from napari_microns.sample.morphology import uv_sphere
    from napari_microns.core.morphology import write_precomputed_layer, write_sources
    from napari_microns.core.transform import um_to_voxels

    ds, units = processed_units(datadir)

    if REAL_SKELETON.exists():
        sk_dict = json.loads(REAL_SKELETON.read_text())
        what = f"real skeleton {REAL_SKELETON.parent.name} ({len(sk_dict['vertices']):,} vertices)"
    else:
        n = 17_000
        rng = np.random.default_rng(0)
        verts = np.cumsum(rng.normal(0, 500, (n, 3)), axis=0) + [800_000, 700_000, 800_000]
        sk_dict = {"vertices": verts.tolist(), "edges": np.column_stack([np.arange(1, n), np.arange(n - 1)]).tolist(),
                   "radius": [300.0] * n, "compartment": [1] + [3] * (n - 1), "root": 0, "meta": {}}
        what = f"synthetic skeleton ({n:,} vertices)"
    soma_nm = np.asarray(sk_dict["vertices"], float)[int(sk_dict.get("root", 0))]

    # a 100k-face closed mesh around the soma (nm), served by a file:// precomputed layer
    n_lat = n_lon = int(np.sqrt(MESH_FACES / 2))
    v, f = uv_sphere(soma_nm, 15_000.0, n_lat=n_lat, n_lon=n_lon)
    url = write_precomputed_layer(datadir / "layer", meshes={ROOT: (v, f)})
    write_sources(ds.layout, skeleton_source=url, mesh_source=url)
    ds = Dataset(datadir, version=1300)
    ds.morphology.store_skeleton(ROOT, sk_dict)

    # 20k synapses on the skeleton, half inputs and half outputs
    rng = np.random.default_rng(1)
    sk = ds.skeleton(ROOT)
    at = rng.integers(0, len(sk.vertices_um), N_SYNAPSES)
    partners = rng.choice(units["pt_root_id"].to_numpy(), N_SYNAPSES)
    out = np.arange(N_SYNAPSES) % 2 == 0
    vx = um_to_voxels(sk.vertices_um[at])
    ds.import_synapses(pd.DataFrame({
        "id": np.arange(1, N_SYNAPSES + 1), "pre_pt_root_id": np.where(out, ROOT, partners),
        "post_pt_root_id": np.where(out, partners, ROOT), "size": rng.integers(100, 20_000, N_SYNAPSES),
        "ctr_pt_position_x": vx[:, 0], "ctr_pt_position_y": vx[:, 1], "ctr_pt_position_z": vx[:, 2],
    }))
    ds.mesh(ROOT, max_faces=MESH_FACES)  # decimate once, cache
    return ds, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from napari_microns.display import display_available

    tmp = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    try:
        t = time.perf_counter()
        ds, what = build_folder(tmp)
        print(f"setup: {N_UNITS:,} synthetic units processed, {what}, {N_SYNAPSES:,} synapses "
              f"({time.perf_counter() - t:.1f} s, untimed)")
        with display_available():
            run(ds, args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(ds, repeats: int) -> None:
    import napari
    from qtpy.QtCore import QElapsedTimer, QTimer
    from qtpy.QtWidgets import QApplication

    from napari_microns import layer_data as ld
    from napari_microns.app import add_dock_widget
    from napari_microns.scene import Scene

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 1000)
    app = QApplication.instance()
    vispy_canvas = viewer.window._qt_viewer.canvas  # benchmark only: count and force draws
    canvas = vispy_canvas.native
    frames = [0]
    vispy_canvas._scene_canvas.events.draw.connect(lambda event: frames.__setitem__(0, frames[0] + 1))

    def draw():
        """Let napari draw what is pending, as its event loop would: one frame."""
        canvas.update()
        app.processEvents()

    def frame_cost(n=3):
        """One frame of the current scene, nothing changed: the software-GL cost alone."""
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            draw()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    try:
        import vispy.gloo.gl as gl

        renderer = gl.glGetParameter(gl.GL_RENDERER)
    except Exception:  # noqa: BLE001
        renderer = "unknown"
    print(f"OpenGL renderer: {renderer}")
    draw()
    results = []

    def report(name, times, target):
        med = statistics.median(times)
        results.append((name, med, target))
        print(f"{name:<58} median {med * 1000:8.1f} ms  (min {min(times) * 1000:.1f}, n={len(times)})  "
              f"target {target * 1000:.0f} ms -> {med / target:.2f}x of target")

    # 1. units to a drawn Points layer
    scene = Scene(viewer)
    times = []
    for _ in range(repeats):
        viewer.layers.clear()
        draw()
        t = time.perf_counter()
        scene.load(ds)
        draw()
        times.append(time.perf_counter() - t)
    assert len(viewer.layers["units"].data) >= 0.9 * N_UNITS
    report(f"{len(viewer.layers['units'].data):,} units: folder -> drawn Points", times, 1.5)
    t = time.perf_counter()
    units = ds.units()
    layers_table = ds.layers()
    data = ld.units_layer_data(units)
    planes = ld.cortical_layer_planes_data(layers_table, ld.units_extent(units))
    build = time.perf_counter() - t
    redraw = frame_cost()
    print(f"{'':<4}of which: read + build layer data {build * 1000:.0f} ms (no GL); "
          f"redrawing the unchanged scene {redraw * 1000:.0f} ms per frame (software GL)")
    del data, planes
    # The floor under every frame: napari's point sprites for 94k units on software GL,
    # even when each unit covers a pixel or two (vertex work, not pixels).
    units_layer = viewer.layers["units"]
    others = [lyr for lyr in viewer.layers if lyr is not units_layer]
    for lyr in others:
        lyr.visible = False
    alone = frame_cost()
    size, limits = units_layer.size.copy(), units_layer.canvas_size_limits
    units_layer.canvas_size_limits = (0.0, 10_000.0)
    units_layer.size = 0.1
    tiny = frame_cost()
    units_layer.size, units_layer.canvas_size_limits = size, limits
    for lyr in others:
        lyr.visible = True
    for lyr in viewer.layers:
        lyr.visible = False
    empty = frame_cost()
    for lyr in viewer.layers:
        lyr.visible = True
    draw()
    print(f"{'':<4}frame floor: units alone {alone * 1000:.0f} ms, units shrunk to < 1 px {tiny * 1000:.0f} ms, "
          f"empty canvas {empty * 1000:.0f} ms")

    # 2. colour-by switches
    times = []
    columns = ld.COLOR_BY_CHOICES
    for i in range(repeats * 2):
        column = columns[(i + 1) % len(columns)]
        t = time.perf_counter()
        scene.set_color_by(column)
        draw()
        times.append(time.perf_counter() - t)
    report("switch colour-by (recolour + draw)", times, 0.3)
    times = []
    for i in range(repeats * 2):
        column = columns[(i + 1) % len(columns)]
        t = time.perf_counter()
        scene.set_color_by(column)
        times.append(time.perf_counter() - t)
    draw()
    print(f"{'':<4}of which: recolour without drawing median {statistics.median(times) * 1000:.0f} ms")

    # 3. one neuron, cached
    times = []
    for _ in range(repeats):
        for lyr in scene.neuron_layers():
            viewer.layers.remove(lyr)
        draw()
        t = time.perf_counter()
        errors = scene.fetch_now([ROOT])
        draw()
        times.append(time.perf_counter() - t)
        assert not errors, errors
    sk = viewer.layers[f"skeleton {ROOT}"]
    mesh = viewer.layers[f"mesh {ROOT}"]
    syn = viewer.layers["synapses"]
    report(f"neuron: skeleton {len(sk.data):,} edges + mesh {len(mesh.data[1]):,} faces + "
           f"{len(syn.data):,} synapses", times, 1.0)

    # 4. UI stalls during a widget fetch (uncached first, then cached)
    widget = add_dock_widget(viewer)
    widget.scene.set_dataset(ds)
    # what fills the stalls: paints (napari drawing on the UI thread) and our insertions of
    # the layers the worker built
    paints, inserts = [], []
    native_type = type(canvas)
    paint_gl = native_type.paintGL

    def timed_paint(self):
        t = time.perf_counter()
        paint_gl(self)
        paints.append(time.perf_counter() - t)

    native_type.paintGL = timed_paint  # benchmark only
    add_fetched = widget.scene.add_fetched

    def timed_add(piece):
        t = time.perf_counter()
        add_fetched(piece)
        inserts.append((piece.kind, time.perf_counter() - t))

    widget.scene.add_fetched = timed_add
    for label in ("uncached", "cached", "cached, units hidden"):
        if label == "uncached":
            shutil.rmtree(ds.layout.morphology_dir / ds.datastack / "meshes", ignore_errors=True)
        if label.endswith("units hidden"):  # frames become cheap: what is left is our own UI-thread work
            viewer.layers["units"].visible = False
        for lyr in scene.neuron_layers():
            viewer.layers.remove(lyr)
        draw()
        gaps = []
        paints.clear()
        inserts.clear()
        clock = QElapsedTimer()
        clock.start()
        last = [clock.elapsed()]

        def tick():
            now = clock.elapsed()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        timer.start()
        t = time.perf_counter()
        widget.neurons_panel.start_fetch([ROOT])
        while widget.neurons_panel.worker is not None:
            app.processEvents()
            time.sleep(0.001)
        draw()
        total = time.perf_counter() - t
        timer.stop()
        worst = max(gaps) / 1000 if gaps else float("nan")
        results.append((f"UI stall ({label})", worst, 0.1))
        print(f"{'longest UI-thread stall during a widget fetch (' + label + ')':<58} {worst * 1000:8.1f} ms  "
              f"(fetch {total * 1000:.0f} ms, {len(gaps)} ticks)  target 100 ms -> {worst / 0.1:.2f}x of target")
        print(f"{'':<4}of which: longest paint {max(paints, default=0) * 1000:.0f} ms ({len(paints)} paints); "
              "inserting the worker's layers " + ", ".join(f"{k} {d * 1000:.0f} ms" for k, d in inserts))
    viewer.close()


if __name__ == "__main__":
    main()
