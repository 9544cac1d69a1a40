"""How many MICrONS cells changed root id between v1293 and v1300 (real data, not in the tests).

Reads ``../shared/realdata/cell_info_{1293,1300}.feather`` (nucleus positions in nm and
``pt_root_id``; no nucleus ids), matches cells by nucleus position with
:func:`napari_microns.core.roots.map_by_position` and prints the figures.

    python benchmarks/realdata_root_changes.py [REALDATA_DIR] [--tolerance-nm 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from napari_microns.core.roots import map_by_position


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser()
    parser.add_argument("realdata", nargs="?", type=Path, default=here.parent / "shared" / "realdata")
    parser.add_argument("--tolerance-nm", type=float, default=1000.0)
    args = parser.parse_args()
    old = pd.read_feather(args.realdata / "cell_info_1293.feather")
    new = pd.read_feather(args.realdata / "cell_info_1300.feather")
    start = time.perf_counter()
    pairs, counts = map_by_position(old, new, tolerance_nm=args.tolerance_nm)
    took = time.perf_counter() - start
    print(f"v1293 -> v1300, cells matched by nucleus position (tolerance {args.tolerance_nm:g} nm) in {took:.2f} s")
    for key, value in counts.items():
        print(f"  {key:22s} {value:>8,}")
    near = pairs[pairs["match"] == "nearest"]
    if len(near):
        print(f"  nearest-match distance: median {near['distance_nm'].median():.0f} nm, max {near['distance_nm'].max():.0f} nm")
    changed = pairs[(pairs["old_root_id"] != pairs["new_root_id"]) & (pairs["old_root_id"] != 0)]
    print("  examples of changed root ids (old -> new):")
    for row in changed.head(3).itertuples(index=False):
        print(f"    {row.old_root_id} -> {row.new_root_id}")


if __name__ == "__main__":
    main()
