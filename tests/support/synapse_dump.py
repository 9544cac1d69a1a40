"""A synapse table in the published static-dump format, for tests and benchmarks.

``<stem>.csv.gz``: gzip CSV without a header row, Postgres ``COPY`` text (``t``/``f``
booleans, timestamps); ``<stem>_header.csv``: one line per column, ``name,type``, in the
column order of ``synapses_pni_2`` (positions split into ``_x/_y/_z``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

STEM = "synapses_pni_2_v1_filtered_view"
COLUMNS = [
    ("id", "bigint"), ("created", "timestamp without time zone"), ("superceded_id", "bigint"), ("valid", "boolean"),
    ("pre_pt_position_x", "integer"), ("pre_pt_position_y", "integer"), ("pre_pt_position_z", "integer"),
    ("pre_pt_supervoxel_id", "bigint"), ("pre_pt_root_id", "bigint"),
    ("post_pt_position_x", "integer"), ("post_pt_position_y", "integer"), ("post_pt_position_z", "integer"),
    ("post_pt_supervoxel_id", "bigint"), ("post_pt_root_id", "bigint"),
    ("ctr_pt_position_x", "integer"), ("ctr_pt_position_y", "integer"), ("ctr_pt_position_z", "integer"),
    ("size", "integer"),
]


def synapse_table(n: int, n_roots: int = 500, seed: int = 0) -> pd.DataFrame:
    """``n`` synapses among ``n_roots`` real-size root ids with heavy-tailed degrees, in voxels."""
    rng = np.random.default_rng(seed)
    roots = 864691135000000000 + np.sort(rng.choice(10**9, n_roots, replace=False)).astype(np.int64)
    weights = rng.pareto(1.3, n_roots) + 1
    weights /= weights.sum()
    ctr = np.column_stack([rng.integers(60000, 420000, n), rng.integers(40000, 320000, n), rng.integers(14000, 27000, n)])
    return pd.DataFrame({
        "id": (np.arange(n, dtype=np.int64) * 3 + 100_000_001),
        "pre_pt_root_id": rng.choice(roots, n, p=weights), "post_pt_root_id": rng.choice(roots, n, p=weights),
        "ctr_pt_position_x": ctr[:, 0], "ctr_pt_position_y": ctr[:, 1], "ctr_pt_position_z": ctr[:, 2],
        "size": rng.integers(20, 20000, n),
    })


def write_dump(folder: Path, table: pd.DataFrame, valid=None, stem: str = STEM) -> tuple[Path, Path]:
    """Write ``table`` as a dump pair in ``folder``; ``valid``: a bool array (default all true)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(table)
    full = pd.DataFrame({"id": table["id"], "created": "2021-07-01 12:00:00.000001", "superceded_id": "",
                         "valid": np.where(np.ones(n, bool) if valid is None else valid, "t", "f")})
    for side in ("pre", "post"):
        for a in "xyz":
            full[f"{side}_pt_position_{a}"] = table[f"ctr_pt_position_{a}"] + (1 if side == "pre" else -1)
        full[f"{side}_pt_supervoxel_id"] = table[f"{side}_pt_root_id"] - 7
        full[f"{side}_pt_root_id"] = table[f"{side}_pt_root_id"]
    for a in "xyz":
        full[f"ctr_pt_position_{a}"] = table[f"ctr_pt_position_{a}"]
    full["size"] = table["size"]
    data = folder / f"{stem}.csv.gz"
    with gzip.open(data, "wt", compresslevel=1, newline="") as fh:
        full[[c for c, _ in COLUMNS]].to_csv(fh, header=False, index=False)
    header = folder / f"{stem}_header.csv"
    header.write_text("".join(f"{c},{t}\n" for c, t in COLUMNS))
    return data, header
