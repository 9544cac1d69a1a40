"""SYNTHETIC functional properties of the sample's excitatory cells, written as the
version's coregistration and functional-property tables.

About 40 % of the excitatory cells are "recorded". Their preferred orientation follows
a smooth map of the cortical surface (x, z): two pinwheels of opposite sign plus noise,
so a picture coloured by ``pref_ori`` shows structure. This is a picture, not biology:
mouse V1 has no orientation map, its preferences are salt-and-pepper. Selectivity
(OSI) is higher in L2/3. Some cells are recorded in two scans, the second with a lower
``cc_abs``, so ``best_only`` has a choice to make.

The values are made in napari-microns' convention (degrees, direction of motion
counter-clockwise from "moving right", see :mod:`napari_microns.core.functional`) and
written the way the version's table stores them: the v3 table (versions up to 1412)
in radians, clockwise from "moving up", with only its columns; the digital-twin table
in degrees with all of its columns. Processing converts them back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.functional import table_kind
from ..core.versions import tables_for
from .tables import LAYER_BANDS, SAMPLE_VERSION, X_RANGE, Z_RANGE

#: Share of the excitatory cells with functional data.
FUNCTIONAL_SHARE = 0.4
#: Share of the recorded cells recorded in a second scan.
TWICE_SHARE = 0.2
#: Pinwheel centres (x, z µm) and their charge (+1/2 or -1/2) of the synthetic orientation map.
PINWHEELS = [((620.0, 800.0), 0.5), ((790.0, 890.0), -0.5)]
#: Noise of the map (degrees, s.d.) and the share of cells with a random preference.
MAP_NOISE_DEG = 12.0
RANDOM_SHARE = 0.1
V3_COLUMNS = ["pref_ori", "pref_dir", "gOSI", "gDSI", "cc_abs"]


def orientation_map(x, z) -> np.ndarray:
    """The synthetic map's preferred orientation (degrees, [0, 180)) at cortical (x, z) µm."""
    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    theta = np.zeros(np.broadcast(x, z).shape)
    for (cx, cz), charge in PINWHEELS:
        theta += charge * np.arctan2(z - cz, x - cx)
    return np.mod(np.rad2deg(theta), 180.0)


def synthetic_function(cells: pd.DataFrame, seed: int = 3, share: float = FUNCTIONAL_SHARE,
                       always=()) -> pd.DataFrame:
    """Recordings (one row per cell and scan) of a share of the excitatory ``cells`` (as from
    :func:`~.tables.synthetic_units`), in napari-microns' convention. ``always``: root ids
    that are recorded whatever the draw (the showcase neurons)."""
    rng = np.random.default_rng(seed)
    exc = (cells["classification_system"] == "excitatory_neuron").to_numpy()
    pick = exc & ((rng.random(len(cells)) < share) | cells["pt_root_id"].isin(list(always)).to_numpy())
    rec = cells[pick]
    n = len(rec)
    x, y, z = (rec[c].to_numpy(dtype=float) for c in ("x", "y", "z"))
    ori = orientation_map(x, z) + rng.normal(0.0, MAP_NOISE_DEG, n)
    scattered = rng.random(n) < RANDOM_SHARE
    ori[scattered] = rng.uniform(0.0, 180.0, scattered.sum())
    ori = np.mod(ori, 180.0)
    direction = np.mod(ori + 180.0 * rng.integers(0, 2, n) + rng.normal(0.0, 5.0, n), 360.0)
    l23 = (y >= LAYER_BANDS["L2/3"][0]) & (y < LAYER_BANDS["L2/3"][1])
    osi = np.where(l23, rng.beta(6.0, 3.0, n), rng.beta(3.0, 5.0, n))
    dsi = rng.beta(2.0, 6.0, n)
    cc_max = rng.uniform(0.75, 0.95, n)
    cc_abs = cc_max * rng.beta(4.0, 3.0, n)
    span_x, span_z = X_RANGE[1] - X_RANGE[0], Z_RANGE[1] - Z_RANGE[0]
    sessions = np.array([(4, 7), (5, 3), (6, 2), (7, 4), (8, 5), (9, 6)])
    scan = sessions[np.clip(((y / 828.0) * len(sessions)).astype(int), 0, len(sessions) - 1)]
    first = pd.DataFrame({
        "nucleus_id": rec["nucleus_id"].to_numpy(), "pt_root_id": rec["pt_root_id"].to_numpy(),
        "session": scan[:, 0], "scan_idx": scan[:, 1],
        "pref_ori": ori, "pref_dir": direction, "OSI": osi, "DSI": dsi,
        "gOSI": osi * rng.uniform(0.5, 0.8, n), "gDSI": dsi * rng.uniform(0.5, 0.8, n),
        "cc_abs": cc_abs, "cc_max": cc_max, "cc_norm": cc_abs / cc_max,
        "readout_loc_x": np.clip((x - X_RANGE[0]) / span_x * 1.8 - 0.9 + rng.normal(0, 0.08, n), -1, 1),
        "readout_loc_y": np.clip((z - Z_RANGE[0]) / span_z * 1.8 - 0.9 + rng.normal(0, 0.08, n), -1, 1),
    })
    # a second scan of some cells: a worse fit, a preference that does not follow the map
    again = first.sample(frac=TWICE_SHARE, random_state=seed).copy()
    m = len(again)
    again["session"], again["scan_idx"] = again["session"] + 1, again["scan_idx"] + 10
    again["cc_abs"] = again["cc_abs"] * rng.uniform(0.2, 0.9, m)
    again["cc_norm"] = again["cc_abs"] / again["cc_max"]
    again["pref_ori"] = rng.uniform(0.0, 180.0, m)
    again["pref_dir"] = np.mod(again["pref_ori"] + 180.0 * rng.integers(0, 2, m), 360.0)
    rows = pd.concat([first, again], ignore_index=True)
    rows["unit_id"] = rows.groupby(["session", "scan_idx"]).cumcount().to_numpy(dtype=np.int64) + 1
    return rows


def functional_raw_tables(rows: pd.DataFrame, version: int = SAMPLE_VERSION) -> dict[str, pd.DataFrame]:
    """The coregistration and functional-property tables of ``version`` holding ``rows``
    (from :func:`synthetic_function`), stored as that version's table stores them."""
    names = tables_for(version)
    m = len(rows)
    rng = np.random.default_rng(m)
    common = {"id": np.arange(1, m + 1, dtype=np.int64), "valid": True,
              "target_id": rows["nucleus_id"].to_numpy(dtype=np.int64),
              "pt_root_id": rows["pt_root_id"].to_numpy(dtype=np.int64),
              "session": rows["session"].to_numpy(), "scan_idx": rows["scan_idx"].to_numpy(),
              "unit_id": rows["unit_id"].to_numpy()}
    coreg = pd.DataFrame({**common, "field": rng.integers(1, 7, m),
                          "residual": rng.gamma(2.0, 1.5, m), "score": rng.uniform(2.0, 10.0, m)})
    props = rows[["pref_ori", "pref_dir", "OSI", "DSI", "gOSI", "gDSI", "cc_abs", "cc_max", "cc_norm",
                  "readout_loc_x", "readout_loc_y"]]
    if table_kind(names["func_props"]) == "v3":
        # radians, 0 = moving up, clockwise: the inverse of core.functional's conversion
        props = props[V3_COLUMNS].assign(
            pref_ori=np.deg2rad(np.mod(90.0 - props["pref_ori"].to_numpy(), 180.0)),
            pref_dir=np.deg2rad(np.mod(90.0 - props["pref_dir"].to_numpy(), 360.0)))
    funcprops = pd.concat([pd.DataFrame(common), props.reset_index(drop=True)], axis=1)
    return {names["coreg"]: coreg, names["func_props"]: funcprops}
