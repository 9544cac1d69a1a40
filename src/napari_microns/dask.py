"""The synapse store on a cluster: dask dataframes over its Parquet files (optional extra).

``pip install "napari-microns[dask]"``. The store is plain Parquet (``Dataset.synapse_files()``:
one copy, every row once, verified), so :func:`synapse_frame` is ``dask.dataframe.read_parquet``
of those files (with the pia-aligned µm positions computed from the stored voxel positions, as
``Dataset.synapses()`` gives them), and :func:`connectivity_by_type` computes the synapses between groups of a
units label (cell types, by default) on whatever scheduler is active: threads by default, or
a ``dask.distributed`` cluster after ``Client(...)`` (a ``LocalCluster``, or a real one whose
workers see the same files: a shared file system, or the store copied to object storage and
read with ``storage_options``; see ``docs/synapses.md``). The result equals the embedded
engine's :meth:`Dataset.connectivity_by_type`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .core.errors import DataError
from .core.synapses.by_type import NOT_IN_UNITS, tidy_summary
from .core.synapses.schema import POST, PRE, SYNAPSE_SCHEMA, UM, VX, stored_columns
from .core.transform import voxels_to_um


def _dd():
    try:
        import dask.dataframe as dd
    except ImportError:
        raise DataError('napari_microns.dask needs dask: pip install "napari-microns[dask]"') from None
    return dd


def synapse_frame(dataset, kind: str = "synapses", columns: list[str] | None = None, files=None,
                  storage_options: dict | None = None):
    """A dask dataframe of the store's ``kind`` rows (one partition per file and row group span).

    ``files``: other locations of the same files (e.g. ``s3://bucket/store/synapses/by_pre/part-00-….parquet``
    after copying the store), read with ``storage_options``; by default the local, verified files."""
    dd = _dd()
    files = files if files is not None else dataset.synapse_files(kind)
    if not files:
        raise DataError(f"no {kind} in the synapse store of {dataset!r}")
    um = kind == "synapses" and (columns is None or any(c in UM for c in columns))
    frame = dd.read_parquet(list(files), columns=None if columns is None else stored_columns(kind, columns),
                            storage_options=storage_options)
    if um:  # the files hold voxel positions: µm as the store's queries give them
        names = [c for c in SYNAPSE_SCHEMA.names if c in frame.columns or c in UM]
        frame = frame.map_partitions(_with_um, names, meta={c: (frame.dtypes[c] if c in frame.columns else "f8")
                                                             for c in names})
    return frame if columns is None else frame[list(columns)]


def _with_um(part: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    um = voxels_to_um(part[VX].to_numpy(dtype=float))
    return part.assign(**{c: um[:, i] for i, c in enumerate(UM)})[names]


def connectivity_by_type(dataset, by: str = "cell_type", drop_autapses: bool = False, files=None,
                         storage_options: dict | None = None) -> pd.DataFrame:
    """``pre_group, post_group, n_connections, n_synapses, size_sum`` over the whole store,
    computed by dask (on the active scheduler or ``dask.distributed`` client)."""
    units = dataset.units_if_processed()
    if units is None or by not in units.columns:
        raise DataError(f"summaries by {by!r} need the processed units with a {by!r} column (run process first)")
    kind = "synapses" if dataset.synapse_store.has("synapses") else "connections"
    cols = [PRE, POST, "size"] + (["n_synapses"] if kind == "connections" else [])
    frame = synapse_frame(dataset, kind, columns=cols, files=files, storage_options=storage_options)
    if drop_autapses:
        frame = frame[frame[PRE] != frame[POST]]
    frame = frame.assign(n=1 if kind == "synapses" else frame["n_synapses"].fillna(1).astype(np.int64))
    pairs = frame.groupby([PRE, POST]).agg({"n": "sum", "size": "sum"}).reset_index()
    labels = units[["pt_root_id", by]].drop_duplicates("pt_root_id")
    groups = pd.Series(labels[by].astype("string").fillna("unknown").to_numpy(dtype=object),
                       index=labels["pt_root_id"].to_numpy(dtype=np.int64))

    def label(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"pre_group": part[PRE].map(groups).fillna(NOT_IN_UNITS).astype(object),
                             "post_group": part[POST].map(groups).fillna(NOT_IN_UNITS).astype(object),
                             "n": part["n"].astype(np.int64), "size": part["size"].astype(np.int64)})

    meta = pd.DataFrame({"pre_group": pd.Series(dtype=object), "post_group": pd.Series(dtype=object),
                         "n": pd.Series(dtype=np.int64), "size": pd.Series(dtype=np.int64)})
    labelled = pairs.map_partitions(label, meta=meta)
    out = labelled.groupby(["pre_group", "post_group"]).agg({"n": ["count", "sum"], "size": "sum"}).compute()
    out.columns = ["n_connections", "n_synapses", "size_sum"]
    return tidy_summary(out.reset_index())
