"""Bit flips and deletions in every kind of file napari-microns writes: each is detected
(one-line error saying what to do, or fetched/rebuilt again), never a silently wrong answer.

One data folder holds raw tables, processed tables, a synapse download (manifest, chunks),
the merged store (runs and bucket files, both copies, the index) and a morphology cache.
Every file is damaged in turn (two bit flips at seeded random places, and a deletion) in a
copy of the folder, then the reader of that file runs and its answer is compared with the
undamaged answer.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.fake_cave import SYNAPSE_TABLE, FakeCAVE, synapse_table

from napari_microns import Dataset
from napari_microns.core.errors import MicronsError
from napari_microns.core.morphology import write_precomputed_layer
from napari_microns.core.tables import is_complete, write_raw_table
from napari_microns.sample.tables import raw_tables, synthetic_units

PRE, POST = "pre_pt_root_id", "post_pt_root_id"
SYN = synapse_table(n_neurons=24, n_synapses=2500, seed=9)
ROOTS = np.unique(np.concatenate([SYN[PRE], SYN[POST]]))
SKELETON_ROOT = int(ROOTS[0])
OUTCOMES: Counter = Counter()


def _skeleton() -> dict:
    verts = np.array([[100_000.0, 200_000.0, 800_000.0], [101_000.0, 201_000.0, 800_400.0],
                      [102_000.0, 199_000.0, 801_000.0]])
    return {"vertices_nm": verts, "edges": np.array([[1, 0], [2, 1]]), "radius_nm": np.array([3000.0, 500.0, 400.0]),
            "compartment": np.array([1, 3, 3])}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fast_retry_module) -> Path:
    root = tmp_path_factory.mktemp("corruption") / "data"
    layer = write_precomputed_layer(root.parent / "layer", skeletons={SKELETON_ROOT: _skeleton()})
    ds = Dataset(root, version=1300, skeleton_source=layer)
    for name, df in raw_tables(synthetic_units(300)).items():
        write_raw_table(ds.layout, name, df, {"datastack": "minnie65_public"})
    ds.process()
    fake = FakeCAVE(tables={SYNAPSE_TABLE: SYN})
    ds = Dataset(root, version=1300, client=fake.client(1300), retry=fast_retry_module, skeleton_source=layer)
    with fake:
        ds.download_synapses(post_ids=ROOTS[:12], aggregate=False, workers=2, chunk_size=3)
    ds.import_synapses(SYN[SYN[POST].isin(ROOTS[12:])])  # a second merge: a run beside the first
    ds.skeleton(SKELETON_ROOT)
    return root


@pytest.fixture(scope="module")
def fast_retry_module():
    from support import FAST_RETRY

    return FAST_RETRY


def answers(root: Path, layer: str | None = None) -> dict:
    """What a user reads from the folder; a MicronsError is the detection we want."""
    ds = Dataset(root, version=1300, skeleton_source=layer)
    return {
        "units": ds.units(), "layers": ds.layers(),
        "by_post": ds.synapses(post_ids=ROOTS[::3]), "by_pre": ds.synapses(pre_ids=ROOTS[1::3]),
        "all": ds.synapses(),
    }


def same(a: dict, b: dict) -> bool:
    return all(a[k].equals(b[k]) if isinstance(a[k], pd.DataFrame) else a[k] == b[k] for k in a)


def damage(path: Path, how: str, seed: int) -> None:
    if how == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for _ in range(2):
        pos = int(rng.integers(0, len(data)))
        data[pos] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))


def files_of(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")
                  and p.name != "report.json")  # report.json: written for people, never read back


CASES = [(how, seed) for how, seed in (("flip", 1), ("flip", 2), ("delete", 0))]


def test_every_damaged_file_is_detected_or_answered_right(folder, tmp_path, fast_retry_module):
    layer_url = Dataset(folder, version=1300).morphology  # noqa: F841 - the cache reads the layer below
    from napari_microns.core.morphology import file_url

    layer = file_url(folder.parent / "layer")
    reference = answers(folder, layer)
    reference_skeleton = Dataset(folder, version=1300, skeleton_source=layer).skeleton(SKELETON_ROOT)
    tried = 0
    for rel in files_of(folder):
        for how, seed in CASES:
            copy = tmp_path / f"case-{tried}"
            shutil.copytree(folder, copy)
            target = copy / rel
            damage(target, how, seed)
            tried += 1
            outcome = check_one(copy, rel, layer, reference, reference_skeleton, fast_retry_module)
            OUTCOMES[outcome] += 1
            assert outcome != "silently wrong", f"{how} {rel}: a wrong answer without an error"
            shutil.rmtree(copy)
    print(f"\ncorruption: {tried} damaged files, outcomes {dict(OUTCOMES)}")
    assert tried >= 3 * 25  # every kind of file: raw, processed, store, download, cache


def check_one(root: Path, rel: str, layer: str, reference: dict, reference_skeleton, fast_retry) -> str:
    ds = Dataset(root, version=1300, skeleton_source=layer)
    if rel.startswith("1300/raw/"):
        table = Path(rel).stem
        if is_complete(ds.layout, table):
            # the download would skip it: the processed answer must then be right
            return "correct" if same_process(ds, reference) else "silently wrong"
        try:
            got = ds.process()
        except MicronsError:
            return "detected"  # and `download` fetches it again (is_complete is False)
        return "detected" if not is_complete(ds.layout, table) else ("correct" if got.units.equals(reference["units"]) else "silently wrong")
    if rel.startswith("1300/morphology/"):
        sk = ds.skeleton(SKELETON_ROOT)  # a damaged cache file is fetched again from the layer
        return "fetched again" if np.array_equal(sk.vertices_um, reference_skeleton.vertices_um) else "silently wrong"
    if "/synapses/downloads/" in rel:
        fake = FakeCAVE(tables={SYNAPSE_TABLE: SYN})
        ds = Dataset(root, version=1300, client=fake.client(1300), retry=fast_retry, skeleton_source=layer)
        with fake:
            ds.download_synapses(post_ids=ROOTS[:12], aggregate=False, workers=2, chunk_size=3)
        got = answers(root, layer)
        return ("fetched again" if fake.requests else "correct") if same(got, reference) else "silently wrong"
    try:
        got = answers(root, layer)
    except MicronsError as exc:
        assert "\n" not in str(exc)
        if "/synapses/store/" in rel:  # the error names the repair; the repair restores every row
            assert "--repair" in str(exc)
            ds.repair_synapse_store()
            repaired = answers(root, layer)
            assert same(repaired, reference), f"repair after damage to {rel} lost rows"
            return "detected, repaired"
        return "detected"
    return "correct" if same(got, reference) else "silently wrong"


def same_process(ds: Dataset, reference: dict) -> bool:
    try:
        units, _ = ds.process()
    except MicronsError:
        return True
    return units.equals(reference["units"])


def test_a_lookup_verifies_the_footer_and_the_row_groups_it_reads(tmp_path, monkeypatch):
    """A lookup hashes only what it reads (the footer, the row groups holding the id), so a
    flip there is an error naming the repair, and a flip elsewhere cannot change its answer."""
    import pyarrow.parquet as pq

    from napari_microns.core import layout
    from napari_microns.core.synapses.reader import row_group_bytes

    monkeypatch.setattr(layout, "BLOCK_BYTES", 4096)  # many blocks in a small file
    rng = np.random.default_rng(4)
    n = 60_000
    post = rng.integers(1, 40, n) + 864691135000000000
    syn = pd.DataFrame({"id": np.arange(1, n + 1), PRE: rng.integers(1, 400, n) + 864691136000000000, POST: post,
                        "size": rng.integers(50, 5000, n)})
    ds = Dataset(tmp_path / "d", version=1300)
    ds.import_synapses(syn)
    files = sorted((p for p in (tmp_path / "d/1300/synapses/store/synapses").rglob("*.parquet") if p.parent.name == "by_post"),
                   key=lambda p: pq.ParquetFile(p).metadata.num_row_groups)
    path = files[-1]
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups >= 3
    stats = [meta.row_group(g).column(meta.schema.to_arrow_schema().get_field_index(POST)).statistics
             for g in range(meta.num_row_groups)]
    first, last = int(stats[0].min), int(stats[-1].max)
    assert first != last
    reference = {r: Dataset(tmp_path / "d", version=1300).synapses(post_ids=[r]) for r in (first, last)}

    def flipped(where: int):
        copy = tmp_path / f"copy-{where}"
        shutil.copytree(tmp_path / "d", copy)
        target = copy / path.relative_to(tmp_path / "d")
        data = bytearray(target.read_bytes())
        data[where] ^= 0x10
        target.write_bytes(bytes(data))
        return Dataset(copy, version=1300)

    start, stop = row_group_bytes(meta, meta.num_row_groups - 1)  # the last row group: holds `last`, not `first`
    assert start > 2 * 4096 + row_group_bytes(meta, 0)[1]
    damaged = flipped((start + stop) // 2)
    assert damaged.synapses(post_ids=[first]).equals(reference[first])  # read elsewhere: right answer
    with pytest.raises(MicronsError, match="--repair"):
        damaged.synapses(post_ids=[last])
    footer = flipped(path.stat().st_size - 20)
    with pytest.raises(MicronsError, match="--repair"):
        footer.synapses(post_ids=[first])
