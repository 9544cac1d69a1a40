"""Benchmark: colouring 94,000 units by a numeric column costs no more than by cell type.

Target: building the units layer data (``layer_data.units_layer_data``: features, positions,
face colours) and recolouring (``layer_data.units_colors``) by a numeric column (``volume``,
``pt_position_y``; ``pref_ori``, an angle, cyclic) take no more time and peak memory than by
``cell_type``, within 10%. Before numeric columns had a colour map, ``volume`` was ~94,000
categories (the real ``figure --color-by volume`` was killed at 19.6 GB).

The units are a full-scale synthetic volume (``napari_microns.sample`` proportions and
depths, 94,000 nuclei over the real footprint, processed by ``Dataset.process``), plus a
synthetic ``pref_ori`` column (degrees, a tenth missing). Prints the median time and the
tracemalloc peak of each, and each ratio to ``cell_type``.

    python benchmarks/bench_colour_by.py [--repeats 21]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

N_UNITS = 94_000
COLUMNS = ["cell_type", "volume", "pt_position_y", "pref_ori"]


def synthetic_units(datadir: Path):
    """The 94k-unit folder of bench_viewer.py, with an orientation column (10% without a value)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_viewer import processed_units

    _, units = processed_units(datadir, N_UNITS)
    rng = np.random.default_rng(0)
    ori = rng.uniform(0, 180, len(units))
    ori[rng.random(len(units)) < 0.1] = np.nan
    return units.assign(pref_ori=ori)


def peak_mb(fn) -> float:
    """Peak traced memory (MB) of one run of ``fn()``."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def interleaved(jobs: dict, repeats: int) -> dict:
    """Median seconds of each job, the jobs taking turns (one run each per round), so a drifting
    machine slows them alike; each job's first run is a warm-up."""
    times = {name: [] for name in jobs}
    for fn in jobs.values():
        fn()
    for _ in range(repeats):
        for name, fn in jobs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    from napari_microns import layer_data as ld

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        units = synthetic_units(Path(tmp))
    feats = ld.units_features(units)
    print(f"setup: {len(units):,} synthetic units, numeric columns "
          f"{', '.join(c for c in COLUMNS if c != 'cell_type')}")
    builds = {c: (lambda c=c: ld.units_layer_data(units, color_by=c)) for c in COLUMNS}
    recolours = {c: (lambda c=c: ld.units_colors(feats, c)) for c in COLUMNS}
    build_t, recolour_t = interleaved(builds, args.repeats), interleaved(recolours, args.repeats)
    results = {c: ((build_t[c], peak_mb(builds[c])), (recolour_t[c], peak_mb(recolours[c]))) for c in COLUMNS}
    base_build, base_recolour = results["cell_type"]
    print(f"{'column':<14} {'layer data: median':>18} {'peak':>9} {'ratio t/mem':>12}   "
          f"{'recolour: median':>16} {'peak':>8} {'ratio t/mem':>12}")
    for column, ((bt, bm), (rt, rm)) in results.items():
        print(f"{column:<14} {bt * 1e3:>15.1f} ms {bm:>6.1f} MB {bt / base_build[0]:>6.2f}/{bm / base_build[1]:<5.2f}"
              f"   {rt * 1e3:>13.1f} ms {rm:>5.1f} MB {rt / base_recolour[0]:>6.2f}/{rm / base_recolour[1]:<5.2f}")


if __name__ == "__main__":
    main()
