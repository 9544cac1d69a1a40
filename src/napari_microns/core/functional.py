"""Functional properties of coregistered cells, in one angle convention.

MICrONS serves two functional-property tables with different angle conventions:

* ``functional_properties_v3_bcm`` (versions up to 1412): ``pref_ori`` in radians [0, pi),
  ``pref_dir`` in radians [0, 2 pi); angle 0 is a horizontal bar moving up, angles grow
  clockwise. Columns ``gOSI``, ``gDSI``, ``cc_abs``.
* ``digital_twin_properties_bcm_coreg_v4`` (from 1507): ``pref_ori`` documented in degrees
  [0, 180), ``pref_dir`` in degrees [0, 360) (one source says radians); angle 0 is a
  vertical bar moving right, angles grow counter-clockwise. Columns ``OSI``, ``DSI``,
  ``gOSI``, ``gDSI``, ``cc_abs``, ``cc_max``, ``cc_norm``, ``readout_loc_x/_y``.

napari-microns gives both in **one convention**, the digital twin's: **degrees**, the
direction of motion measured **counter-clockwise from "moving right"**; ``pref_ori`` in
[0, 180), ``pref_dir`` in [0, 360). The unit of a table's angles is decided from their
values: all finite values of ``pref_ori`` and ``pref_dir`` within [-2 pi, 2 pi] (1 % slack)
means radians, else degrees (a table without finite angles follows its documentation).
A v3 direction theta (clockwise from "moving up") becomes ``(90 - theta) mod 360``, a v3
orientation ``(90 - theta) mod 180``. ``summary["functional_angles"]`` records what was
converted. Cells without functional data get NaN, never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The property columns taken from a functional table (those it has), in this order.
PROPERTY_COLUMNS = ["pref_ori", "pref_dir", "OSI", "DSI", "gOSI", "gDSI", "cc_abs", "cc_max", "cc_norm",
                    "readout_loc_x", "readout_loc_y"]
#: Which scan and unit a row describes (``unit_id`` becomes ``functional_unit_id``).
SCAN_COLUMNS = ["session", "scan_idx", "unit_id"]
#: The angle convention of the units table.
CONVENTION = "degrees, direction of motion counter-clockwise from moving right; pref_ori in [0, 180), pref_dir in [0, 360)"

#: table kind -> (documented unit, zero and rotation as documented)
KINDS = {
    "v3": ("radians", "0 = horizontal bar moving up, clockwise"),
    "digital_twin": ("degrees", "0 = vertical bar moving right, counter-clockwise"),
}
_PERIOD = {"pref_ori": 180.0, "pref_dir": 360.0}


def table_kind(table: str) -> str:
    """``"v3"`` for a ``functional_properties_v3*`` table, else ``"digital_twin"``."""
    return "v3" if str(table).startswith("functional_properties") else "digital_twin"


def angles_are_radians(df: pd.DataFrame, documented: str) -> bool:
    """Whether the angle columns of ``df`` hold radians, decided from their values: every
    finite value within [-2 pi, 2 pi] (1 % slack). No finite value: the ``documented`` unit."""
    values = np.concatenate([pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
                             for c in _PERIOD if c in df.columns] or [np.empty(0)])
    values = values[np.isfinite(values)]
    if not len(values):
        return documented == "radians"
    return bool(np.abs(values).max() <= 2 * np.pi * 1.01)


def standardise(df: pd.DataFrame, table: str) -> tuple[pd.DataFrame, dict]:
    """``df`` (rows of functional table ``table``) with its property columns as float64 and
    its angles in the one convention (:data:`CONVENTION`); and what was converted."""
    df = df.copy()
    for col in PROPERTY_COLUMNS:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
    kind = table_kind(table)
    documented, zero = KINDS[kind]
    radians = angles_are_radians(df, documented)
    steps = []
    if radians:
        steps.append("radians to degrees")
    if kind == "v3":
        steps.append("90° minus the clockwise-from-up angle")
    for col, period in _PERIOD.items():
        if col not in df.columns:
            continue
        angle = df[col].to_numpy(dtype=float)
        if radians:
            angle = np.rad2deg(angle)
        if kind == "v3":
            angle = 90.0 - angle
        angle = np.mod(angle, period)
        angle[angle >= period] = 0.0  # np.mod of a tiny negative number can give the period itself
        df[col] = angle
    steps.append("mod 180 (pref_ori) / 360 (pref_dir)")
    info = {"table": table, "source_unit": "radians" if radians else "degrees", "documented_unit": documented,
            "source_convention": zero, "converted": "; ".join(steps), "convention": CONVENTION,
            "angle_columns": [c for c in _PERIOD if c in df.columns]}
    return df, info


def best_per_nucleus(df: pd.DataFrame, key: str = "target_id") -> pd.DataFrame:
    """One row per nucleus: the one with the highest ``cc_abs`` (first of ties; NaN last),
    as microns_datacleaner's ``best_only``."""
    return df.sort_values("cc_abs", ascending=False, kind="stable", na_position="last").drop_duplicates(key, keep="first")
