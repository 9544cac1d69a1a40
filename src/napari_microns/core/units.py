"""Merge a version's raw CAVE tables into the *units* and *layers* tables.

The steps and their order follow microns_datacleaner 0.2.1.8
(``process_nucleus_data``), so a datacleaner user gets the same units and
layers, with three fixes (see docs/processing.md):

* An annotation table that names a nucleus (or, for proofreading, a root id)
  twice keeps its newest row instead of duplicating the unit; datacleaner's
  later ``drop_duplicates(keep=False)`` then deleted the neuron entirely.
* Layers are derived from one row per unit (datacleaner counted a unit once
  per functional scan in ``all``/``match`` mode) and the deepest cell gets a layer.
* Positions are transformed in one vectorized call, not a per-row loop.

Every removal is counted in the summary, which the CLI prints.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import pandas as pd

from . import functional
from .errors import DataError, MicronsError
from .ids import is_id_column
from .layers import assign_layers, compute_layers
from .layout import (
    Layout,
    atomic_write_json,
    atomic_write_parquet,
    file_sha256,
    read_json,
    read_parquet,
    write_lock,
)
from .palettes import CATEGORY_COLUMNS
from .tables import has_raw_table, read_raw_table
from .transform import voxels_to_um
from .versions import VersionTables

FUNCTIONAL_MODES = ("none", "match", "best_only", "all")
POSITION = ["pt_position_x", "pt_position_y", "pt_position_z"]
VOXEL_POSITION = ["pt_position_vx_x", "pt_position_vx_y", "pt_position_vx_z"]
UNIT_COLUMNS = [
    "nucleus_id", "pt_root_id", *POSITION, "classification_system", "cell_type", "brain_area",
    "strategy_axon", "strategy_dendrite", "tuning_type", "layer", *VOXEL_POSITION,
]


@dataclass
class UnitsResult:
    """What :func:`build_units` (and ``Dataset.process()``) made: the units, the cortical
    layers and the summary of what was kept and removed (what the CLI prints).

    It unpacks as ``units, layers = ds.process()``.
    """

    units: pd.DataFrame
    layers: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter((self.units, self.layers))

    def write(self, layout: Layout) -> None:
        """Write units, layers and summary, then ``checksums.json`` naming their SHA-256 (last:
        a process killed before it leaves checksums that do not match, so readers refuse)."""
        with write_lock(layout.lock_file("processed"), f"the processed tables of version {layout.version}"):
            digests = {
                layout.units_path.name: atomic_write_parquet(self.units, layout.units_path),
                layout.layers_path.name: atomic_write_parquet(self.layers, layout.layers_path),
            }
            atomic_write_json(layout.summary_path, self.summary)
            digests[layout.summary_path.name] = file_sha256(layout.summary_path)
            atomic_write_json(layout.processed_dir / CHECKSUMS, digests)


#: ``processed/checksums.json``: the SHA-256 of each processed file, written last
CHECKSUMS = "checksums.json"


def recorded_checksum(path: Path) -> tuple[str, str]:
    """``(sha256, what to do)`` for ``path`` (a file in ``processed/``), from ``checksums.json``;
    a one-line :class:`DataError` when there is none to trust."""
    version_dir = path.parent.parent
    fix = (f"run `napari-microns process --datadir {version_dir.parent} --version {version_dir.name}` "
           "to rebuild it" if version_dir.name.isdigit() else "run `napari-microns process` to rebuild it")
    try:
        recorded = read_json(path.parent / CHECKSUMS)
    except FileNotFoundError:
        raise DataError(f"{path} has no checksums (written by an older napari-microns, or cut short); {fix}") from None
    except DataError:
        raise DataError(f"{path.parent / CHECKSUMS} is corrupt; {fix}") from None
    if not isinstance(recorded, dict) or path.name not in recorded:
        raise DataError(f"{path} is not named in {CHECKSUMS}; {fix}")
    return recorded[path.name], fix


def read_processed(path: Path) -> pd.DataFrame:
    """A processed table (units or layers), verified against ``checksums.json``, from one read."""
    if not path.exists():
        version_dir = path.parent.parent
        raise DataError(f"{path} not found; run `napari-microns process --datadir {version_dir.parent} "
                        f"--version {version_dir.name}` first")
    sha256, fix = recorded_checksum(path)
    try:
        return read_parquet(path, sha256=sha256, what="processed file", fix=fix)
    except MicronsError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path} is corrupt ({type(exc).__name__}); run `napari-microns process` again") from None


class ProcessedTables(NamedTuple):
    """A processed version's units and cortical layers, as the viewer shows them."""

    units: pd.DataFrame
    cortical_layers: pd.DataFrame | None  # None: no layers.parquet beside the units


def load_processed(units_path: str | Path, verify: bool = True) -> ProcessedTables:
    """The units table at ``units_path`` and the cortical layers table beside it.

    The one rule for the layers table, wherever napari-microns shows units (reader, sample,
    dock widget, ``view``/``figure``/``demo``): no ``layers.parquet`` beside the units means
    ``cortical_layers=None``, the units are shown without layer planes; a layers table that
    is there is read and checked like the units, so a damaged one fails in one line.
    ``verify``: check both against ``checksums.json`` (a processed folder, the default);
    False reads a lone units table (no ``checksums.json`` beside it) as it is.
    """
    units_path = Path(units_path)
    read = read_processed if verify else pd.read_parquet
    layers_path = units_path.with_name("layers.parquet")
    units = read(units_path)
    layers = read(layers_path) if layers_path.exists() and layers_path != units_path else None
    return ProcessedTables(units, layers)


def _read(layout: Layout, table: str, columns: list[str], required: list[str] | None = None,
          summary: dict | None = None) -> pd.DataFrame:
    """A raw table with its id columns as int64. Rows with a blank id (a cell left empty in a
    datacleaner CSV) are removed and counted in ``summary["blank_ids"]``: no other row changes."""
    df = read_raw_table(layout, table, columns)
    missing = [c for c in (required or columns) if c not in df.columns]
    if missing:
        raise DataError(f"table {table} in {layout.raw_dir} lacks column(s) {', '.join(missing)}")
    df, blanks = drop_blank_ids(df)
    if blanks and summary is not None:
        summary.setdefault("blank_ids", {})[table] = blanks
    return df


def drop_blank_ids(df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """``df`` without the rows whose id columns are blank (``<NA>``), those columns as int64;
    and ``{"rows": removed, "columns": {column: blanks}}`` (empty when nothing was blank)."""
    blank_cols = {c: df[c].isna().to_numpy() for c in df.columns if is_id_column(c) and df[c].dtype != np.int64}
    blank_cols = {c: m for c, m in blank_cols.items() if m.any()}
    if not blank_cols:
        return df, {}
    drop = np.logical_or.reduce(list(blank_cols.values()))
    kept = df[~drop].copy()
    for c in blank_cols:
        kept[c] = kept[c].to_numpy(dtype=np.int64)
    return kept.reset_index(drop=True), {"rows": int(drop.sum()), "columns": {c: int(m.sum()) for c, m in blank_cols.items()}}


def _newest_per_key(df: pd.DataFrame, key: str) -> tuple[pd.DataFrame, int]:
    """Keep one row per ``key``: the newest annotation (highest ``id``), else the last row."""
    if "id" in df.columns:
        df = df.sort_values("id", kind="stable")
    deduped = df.drop_duplicates(subset=key, keep="last")
    return deduped, len(df) - len(deduped)


def build_units(layout: Layout, tables: VersionTables, functional: str = "none", layer_method: str = "datacleaner") -> UnitsResult:
    if functional not in FUNCTIONAL_MODES:
        raise ValueError(f"functional must be one of {', '.join(FUNCTIONAL_MODES)}, not {functional!r}")
    summary: dict = {"version": layout.version, "functional": functional, "layer_method": layer_method,
                     "tables": {}, "removed": {}, "collapsed_duplicate_rows": {}}

    nucleus = _read(layout, tables["nucleus"], ["id", "pt_root_id", *POSITION, "volume"], ["id", "pt_root_id", *POSITION],
                    summary)
    nucleus = nucleus.rename(columns={"id": "nucleus_id"})
    blank_nuclei = summary.get("blank_ids", {}).get(tables["nucleus"], {}).get("rows", 0)
    summary["tables"][tables["nucleus"]] = len(nucleus) + blank_nuclei
    summary["nuclei"] = len(nucleus) + blank_nuclei
    if blank_nuclei:  # a blank root id or nucleus id: that nucleus only, no other row changes
        summary["removed"]["blank_id"] = blank_nuclei
    dup_nuclei = int(nucleus["nucleus_id"].duplicated().sum())
    if dup_nuclei:
        raise DataError(f"table {tables['nucleus']} lists {dup_nuclei} nucleus id(s) twice; download it again")

    def annotation(role: str, key: str, columns: list[str]) -> pd.DataFrame:
        return read_annotation(layout, tables[role], key, columns, summary)

    # Cell types and brain areas: inner merges on the nucleus id, as datacleaner.
    celltype = annotation("celltype", "target_id", ["classification_system", "cell_type"])
    units = nucleus.merge(celltype, left_on="nucleus_id", right_on="target_id", how="inner").drop(columns="target_id")
    summary["removed"]["no_cell_type"] = len(nucleus) - len(units)

    areas = annotation("brain_areas", "target_id", ["tag"]).rename(columns={"tag": "brain_area"})
    n = len(units)
    units = units.merge(areas, left_on="nucleus_id", right_on="target_id", how="inner").drop(columns="target_id")
    summary["removed"]["no_brain_area"] = n - len(units)

    # Proofreading: left merge on the root id; unproofread cells get 'none'.
    proof = annotation("proofreading", "pt_root_id", ["strategy_axon", "strategy_dendrite"])
    proof = proof[proof["pt_root_id"] != 0]
    units = units.merge(proof, on="pt_root_id", how="left")
    for col in ("strategy_axon", "strategy_dendrite"):
        units[col] = units[col].fillna("none")

    # Pia-aligned µm positions; the voxel positions stay for links to the segmentation.
    vx = units[POSITION].to_numpy(dtype=float)
    units[VOXEL_POSITION] = vx
    units[POSITION] = voxels_to_um(vx) if len(units) else vx

    # Root id 0 (no segment) and multi-soma root ids, as datacleaner: after the merges.
    n = len(units)
    units = units[units["pt_root_id"] > 0]
    summary["removed"]["root_id_0"] = n - len(units)
    multi = units["pt_root_id"].duplicated(keep=False)
    summary["removed"]["multi_soma"] = int(multi.sum())
    summary["multi_soma_root_ids"] = int(units.loc[multi, "pt_root_id"].nunique())
    units = units[~multi].reset_index(drop=True)

    # Corrections (v1718): override columns where the correction table has a value.
    summary["corrections_applied"] = {}
    for corr_table, columns in tables.corrections.items():
        if not has_raw_table(layout, corr_table) and tables.is_optional(corr_table):
            # unconfirmed at this version: the server may not have it (download skips it then)
            summary.setdefault("corrections_skipped", []).append(corr_table)
            continue
        if not has_raw_table(layout, corr_table):
            raise DataError(f"correction table {corr_table} is not in {layout.raw_dir}; run `napari-microns download` first")
        corr = read_annotation(layout, corr_table, "target_id", columns, summary)
        units, n_applied = apply_corrections(units, corr, columns)
        summary["corrections_applied"][corr_table] = n_applied

    # Layers from one row per unit, then each unit's layer.
    layers = compute_layers(units, tables["celltype"], layer_method)
    units["layer"] = assign_layers(units["pt_position_y"].to_numpy(), layers)

    units = add_functional(units, layout, tables, functional, summary)
    ordered = [c for c in UNIT_COLUMNS if c in units.columns]
    units = units[ordered + [c for c in units.columns if c not in ordered]]
    # Labels as categoricals: a tenth of the memory, fast parquet, and what napari colours by.
    for col in CATEGORY_COLUMNS:
        if col in units.columns:
            units[col] = units[col].astype("category")
    summary["units"] = len(units)
    summary["unique_root_ids"] = int(units["pt_root_id"].nunique())
    summary["layers"] = layers.to_dict(orient="records")
    summary["processed_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return UnitsResult(units, layers, summary)


def read_annotation(layout: Layout, table: str, key: str, columns: list[str], summary: dict) -> pd.DataFrame:
    """An annotation table with one row per ``key`` (the newest), counted in ``summary``."""
    df = _read(layout, table, ["id", key, *columns], [key, *columns], summary)
    summary["tables"][table] = len(df)
    df, collapsed = _newest_per_key(df, key)
    summary["collapsed_duplicate_rows"][table] = collapsed
    return df.drop(columns=[c for c in ("id",) if c in df.columns])


def apply_corrections(units: pd.DataFrame, corr: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """Overwrite ``columns`` of units whose nucleus the correction table names (non-missing values only)."""
    corr = corr.set_index("target_id")[columns]
    indexed = units.set_index("nucleus_id")
    hit = indexed.index.isin(corr.index)
    indexed.update(corr)
    return indexed.reset_index(), int(hit.sum())


def add_functional(units: pd.DataFrame, layout: Layout, tables: VersionTables, mode: str, summary: dict) -> pd.DataFrame:
    """Functional columns as datacleaner's modes; ``all`` and ``match`` keep one row per scan.
    Angles in degrees, counter-clockwise from "moving right" (:mod:`.functional`); NaN when unmatched."""
    if mode == "none":
        units["tuning_type"] = "not_matched"
        return units
    if mode == "match":
        table = tables["coreg"]
        df = _read(layout, table, ["target_id", "pt_root_id", "session", "scan_idx", "unit_id"], summary=summary)
    else:  # the table's property columns, angles in one convention (see core/functional.py)
        table = tables["func_props"]
        wanted = ["target_id", "pt_root_id", *functional.SCAN_COLUMNS, *functional.PROPERTY_COLUMNS]
        df = _read(layout, table, wanted, ["target_id", "pt_root_id", "cc_abs"], summary)
        df, summary["functional_angles"] = functional.standardise(df, table)
        if mode == "best_only":
            df = functional.best_per_nucleus(df)
    summary["tables"][table] = len(df)
    df = df[df["pt_root_id"] != 0].drop(columns="pt_root_id").rename(columns={"unit_id": "functional_unit_id"})
    df["tuning_type"] = "matched"
    merged = units.merge(df, left_on="nucleus_id", right_on="target_id", how="left").drop(columns="target_id")
    merged["tuning_type"] = merged["tuning_type"].fillna("not_matched")
    summary["functional_matched_units"] = int(merged.loc[merged["tuning_type"] == "matched", "nucleus_id"].nunique())
    summary["functional_rows"] = len(merged)
    return merged


def format_summary(summary: dict) -> str:
    """The human-readable summary the CLI prints."""
    lines = [f"version {summary['version']}: {summary['nuclei']:,} nuclei -> {summary['units']:,} units "
             f"({summary['unique_root_ids']:,} root ids)"]
    labels = {
        "no_cell_type": "no cell type",
        "no_brain_area": "no brain area",
        "root_id_0": "root id 0 (no segment)",
        "multi_soma": "multi-soma root ids",
        "blank_id": "blank root id or nucleus id",
    }
    for key, label in labels.items():
        n = summary["removed"].get(key, 0)
        if key == "blank_id" and not n:
            continue
        extra = f" ({summary['multi_soma_root_ids']:,} root ids)" if key == "multi_soma" and n else ""
        lines.append(f"  removed {n:>7,}  {label}{extra}")
    for table, blank in summary.get("blank_ids", {}).items():
        cols = ", ".join(f"{c} ({n:,})" for c, n in blank["columns"].items())
        lines.append(f"  blank ids in {table}: {cols}; those {blank['rows']:,} row(s) left out, no other row changed")
    for table, n in summary.get("collapsed_duplicate_rows", {}).items():
        if n:
            lines.append(f"  kept newest of repeated rows in {table}: {n:,} older row(s) ignored, no unit removed")
    for table, n in summary.get("corrections_applied", {}).items():
        lines.append(f"  corrected {n:,} units from {table}")
    for table in summary.get("corrections_skipped", []):
        lines.append(f"  not corrected from {table}: optional at this version and not on disk (the server lacks it)")
    if summary.get("functional") != "none":
        lines.append(f"  functional ({summary['functional']}): {summary.get('functional_matched_units', 0):,} units matched, "
                     f"{summary.get('functional_rows', 0):,} rows")
        angles = summary.get("functional_angles")
        if angles and angles.get("angle_columns"):
            lines.append(f"  angles of {angles['table']} ({angles['source_unit']}) as degrees, counter-clockwise "
                         "from moving right")
    lines.append("  layers (µm below pia):")
    for row in summary["layers"]:
        lines.append(f"    {row['layer']:<5} {row['y_start']:>11.6f} – {row['y_end']:>11.6f}  ({row['height']:.1f} µm)")
    return "\n".join(lines)
