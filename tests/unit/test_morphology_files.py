"""Your own morphology in: SWC / skeleton-service JSON skeletons and .off/.ply/.obj meshes imported
into the cache of a root id (offline), their units, bad files as one line, the CLI, and the
synapse import's warning about positions outside the volume."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import trimesh

from napari_microns import Dataset
from napari_microns.cli import main as cli_main
from napari_microns.core.errors import DataError, MicronsError
from napari_microns.core.transform import (
    VOLUME_EXTENT_NM,
    VOXEL_RESOLUTION_NM,
    nm_to_um,
    um_to_nm,
)

ROOT = 864691135101289504
OTHER = 864691135999999977
# a small tree in nm inside the volume: soma 1, a dendrite 1-2-3, an axon 1-5 (ids not contiguous)
SWC_ROWS = [(1, 1, 700000.0, 600000.0, 900000.0, 5000.0, -1), (2, 3, 701000.0, 600500.0, 900040.0, 500.0, 1),
            (3, 3, 702000.0, 601000.0, 900080.0, 400.0, 2), (5, 2, 699000.0, 599000.0, 899960.0, 200.0, 1)]


def write_swc(path, rows=SWC_ROWS, header="# a test neuron\n# id type x y z r parent\n"):
    path.write_text(header + "\n".join(" ".join(str(v) for v in r) for r in rows) + "\n")
    return path


def edge_pairs(sk) -> set:
    """Edges as (child position, parent position) in nm, rounded: independent of vertex order."""
    v = np.round(sk.vertices_nm, 3)
    return {(tuple(v[c]), tuple(v[p])) for c, p in sk.edges}


@pytest.fixture
def ds(tmp_path):
    return Dataset(tmp_path / "data", version=1300)


def test_swc_import_round_trips_through_dataset_skeleton(ds, tmp_path):
    sk = ds.import_skeleton(write_swc(tmp_path / "n.swc"), str(ROOT))
    again = Dataset(ds.datadir, version=1300).skeleton(ROOT)  # from the cache, no client
    rows = np.array(SWC_ROWS)
    np.testing.assert_allclose(again.vertices_nm, rows[:, 2:5])
    np.testing.assert_allclose(again.vertices_um, nm_to_um(rows[:, 2:5]))
    np.testing.assert_allclose(again.radius_nm, rows[:, 5])
    assert again.compartment.tolist() == [1, 3, 3, 2]
    assert again.root == 0 and again.root_id == ROOT and isinstance(again.root_id, int)
    assert sorted(map(tuple, again.edges.tolist())) == [(1, 0), (2, 1), (3, 0)]  # child -> parent indices
    assert edge_pairs(again) == edge_pairs(sk)
    assert again.meta["imported_from"].endswith("n.swc")


def test_units_um_and_voxel_convert_to_the_same_nm(ds, tmp_path):
    rows = np.array(SWC_ROWS)
    um = nm_to_um(rows[:, 2:5])
    um_rows = [(r[0], r[1], *u, r[5] / 1000, r[6]) for r, u in zip(SWC_ROWS, um)]
    vx_rows = [(r[0], r[1], *(np.array(r[2:5]) / VOXEL_RESOLUTION_NM), r[5] / 4, r[6]) for r in SWC_ROWS]
    a = ds.import_skeleton(write_swc(tmp_path / "um.swc", um_rows), ROOT, units="um")
    np.testing.assert_allclose(a.vertices_nm, rows[:, 2:5], atol=1e-3)
    np.testing.assert_allclose(a.vertices_um, um, atol=1e-6)
    np.testing.assert_allclose(a.radius_nm, rows[:, 5])
    b = ds.import_skeleton(write_swc(tmp_path / "vx.swc", vx_rows), OTHER, units="voxel")
    np.testing.assert_allclose(b.vertices_nm, rows[:, 2:5], atol=1e-6)
    np.testing.assert_allclose(b.radius_nm, rows[:, 5])
    with pytest.raises(DataError, match="units must be one of"):
        ds.import_skeleton(tmp_path / "um.swc", ROOT, units="mm")


def test_skeleton_service_json_and_dict(ds, tmp_path):
    d = {"vertices": [[700000, 600000, 900000], [701000, 600000, 900000]], "edges": [[1, 0]],
         "radius": [3000, 300], "compartment": [1, 3], "root": 0}
    path = tmp_path / "sk.json"
    path.write_text(json.dumps(d))
    ds.import_skeleton(path, ROOT)
    sk = ds.skeleton(ROOT)
    np.testing.assert_allclose(sk.vertices_nm, d["vertices"])
    assert sk.edges.tolist() == [[1, 0]] and sk.compartment.tolist() == [1, 3]
    sk2 = ds.import_skeleton(dict(d, vertices=[[700, 600, 900], [701, 600, 900]]), OTHER, units="um")
    np.testing.assert_allclose(sk2.vertices_um, [[700, 600, 900], [701, 600, 900]], atol=1e-6)
    np.testing.assert_allclose(ds.skeleton(OTHER).vertices_nm, um_to_nm(sk2.vertices_um), atol=1e-3)


@pytest.mark.parametrize("suffix", [".off", ".ply", ".obj"])
def test_mesh_import_round_trips_through_dataset_mesh(ds, tmp_path, suffix):
    box = trimesh.creation.icosphere(subdivisions=3, radius=5000.0)
    box.apply_translation([700000, 600000, 900000])
    path = tmp_path / f"cell{suffix}"
    box.export(path)
    ds.import_mesh(path, ROOT)
    mesh = Dataset(ds.datadir, version=1300).mesh(ROOT)  # from the cache, no client
    assert mesh.n_faces == len(box.faces)
    np.testing.assert_allclose(np.sort(mesh.vertices_nm, axis=0), np.sort(box.vertices, axis=0), rtol=1e-6)
    np.testing.assert_allclose(mesh.vertices_um, nm_to_um(mesh.vertices_nm), atol=1e-3)
    # the scene asks for a face budget: the imported mesh answers it, decimated
    small = ds.mesh(ROOT, max_faces=200)
    assert 0 < small.n_faces <= 200 and small.n_faces_source == len(box.faces)


def test_imported_mesh_replaces_meshes_fetched_before(ds, tmp_path):
    from napari_microns.core.morphology import NeuronMesh

    old = NeuronMesh(ROOT, np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), np.array([[0, 1, 2]], np.int32),
                     source=ds.morphology.sources.mesh)
    ds.morphology.cache.save_mesh(old, None, 5000)  # what the scene fetched earlier at its face budget
    assert ds.mesh(ROOT, max_faces=5000).n_faces == 1
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=3000.0)
    sphere.apply_translation([700000, 600000, 900000])
    sphere.export(tmp_path / "s.off")
    ds.import_mesh(tmp_path / "s.off", ROOT)
    assert ds.mesh(ROOT, max_faces=5000).n_faces == len(sphere.faces)


def test_mesh_units_um(ds, tmp_path):
    tri = trimesh.Trimesh([[700, 600, 900], [701, 600, 900], [700, 601, 900]], [[0, 1, 2]], process=False)
    tri.export(tmp_path / "t.ply")
    mesh = ds.import_mesh(tmp_path / "t.ply", ROOT, units="um")
    np.testing.assert_allclose(ds.mesh(ROOT).vertices_um, tri.vertices, atol=1e-3)
    np.testing.assert_allclose(mesh.vertices_nm, um_to_nm(tri.vertices), rtol=1e-6)


@pytest.mark.parametrize("name, text, expected", [
    ("cols.swc", "1 1 0 0 0 1\n", "7 columns"),
    ("nan.swc", "1 1 0 0 zero 1 -1\n", "non-numeric"),
    ("orphan.swc", "1 1 0 0 0 1 -1\n2 3 1 1 1 1 7\n", "parent 7"),
    ("empty.swc", "# nothing\n", "no SWC rows"),
    ("dup.swc", "1 1 0 0 0 1 -1\n1 3 1 1 1 1 1\n", "repeat"),
    ("bad.json", "{not json", "cannot read as JSON"),
    ("list.json", "[1, 2]", "not a skeleton-service dict"),
    ("edge.json", '{"vertices": [[0, 0, 0]], "edges": [[1, 0]]}', "edge names a vertex"),
    ("empty.off", "OFF\n0 0 0\n", "mesh is empty"),
    ("junk.ply", "this is not a ply file", "cannot read as a mesh|mesh is empty"),
    ("cell.stl", "solid x", "unknown morphology file type"),
])
def test_bad_files_are_one_line_errors_naming_the_file(ds, tmp_path, name, text, expected):
    path = tmp_path / name
    path.write_text(text)
    call = ds.import_mesh if path.suffix in (".off", ".ply", ".stl") else ds.import_skeleton
    with pytest.raises(DataError, match=expected) as err:
        call(path, ROOT)
    assert "\n" not in str(err.value) and name in str(err.value)
    assert not list((ds.layout.morphology_dir).rglob("*.npz"))  # nothing written


def test_bad_root_id_is_refused_before_reading(ds, tmp_path):
    with pytest.raises(MicronsError, match="root id"):
        ds.import_skeleton(write_swc(tmp_path / "n.swc"), "abc")


def test_cli_imports_skeleton_and_mesh(tmp_path, capsys):
    data = tmp_path / "data"
    swc = write_swc(tmp_path / "n.swc")
    args = ["morphology", "--datadir", str(data), "--version", "1300"]
    assert cli_main(args + ["--import", str(swc), "--root-id", str(ROOT)]) == 0
    assert "skeleton 4 vertices" in capsys.readouterr().out
    tri = trimesh.creation.icosphere(subdivisions=1, radius=3.0)
    tri.apply_translation([700, 600, 900])
    tri.export(tmp_path / "m.obj")
    assert cli_main(args + ["--import", str(tmp_path / "m.obj"), "--root-id", str(ROOT), "--units", "um"]) == 0
    ds = Dataset(data, version=1300)
    assert ds.skeleton(ROOT).n_vertices == 4
    np.testing.assert_allclose(np.sort(ds.mesh(ROOT).vertices_um, axis=0), np.sort(tri.vertices, axis=0), atol=1e-3)
    capsys.readouterr()
    (tmp_path / "m.stl").write_text("solid")
    assert cli_main(args + ["--import", str(tmp_path / "m.stl"), "--root-id", str(ROOT)]) != 0
    err = capsys.readouterr().err.strip()
    assert "unknown morphology file type" in err and len(err.splitlines()) == 1
    assert cli_main(args + ["--import", str(swc)]) != 0
    assert "--root-id" in capsys.readouterr().err


# -- synapse positions outside the volume --------------------------------------------
def synapses_at(nm_xyz) -> pd.DataFrame:
    n = len(nm_xyz)
    return pd.DataFrame({"id": np.arange(1, n + 1, dtype=np.int64), "pre_pt_root_id": np.full(n, OTHER),
                         "post_pt_root_id": np.full(n, ROOT), "size": np.full(n, 100),
                         "ctr_pt_position_x": nm_xyz[:, 0], "ctr_pt_position_y": nm_xyz[:, 1],
                         "ctr_pt_position_z": nm_xyz[:, 2]})


def test_synapse_positions_outside_the_volume_warn(ds, caplog):
    nm = np.array([[700000.0, 600000.0, 900000.0], [800000.0, 700000.0, 1000000.0]])
    with caplog.at_level(logging.WARNING):
        assert ds.import_synapses(synapses_at(nm / VOXEL_RESOLUTION_NM))["outside_volume"] == 0
        assert ds.import_synapses(synapses_at(nm), position_unit="nm")["outside_volume"] == 0
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        assert ds.import_synapses(synapses_at(nm))["outside_volume"] == 2  # nm read as voxels
    (rec,) = caplog.records
    assert "positions look like nanometres; pass --position-unit nm" in rec.getMessage()
    caplog.clear()
    far = VOLUME_EXTENT_NM[1] * 3  # outside in any unit: no nanometre hint
    with caplog.at_level(logging.WARNING):
        assert ds.import_synapses(synapses_at(np.array([far])), position_unit="nm")["outside_volume"] == 1
    assert "--position-unit" not in caplog.records[0].getMessage()


def test_real_basket_cell_synapses_read_as_voxels_warn(tmp_path, capsys, caplog):
    real = tmp_path / "syn.feather"
    src = "/work/shared/realdata/neuron_864691135101289504/input_synapses.feather"
    try:
        frame = pd.read_feather(src, columns=["id", "pre_pt_root_id", "post_pt_root_id", "size", "ctr_pt_position_x",
                                              "ctr_pt_position_y", "ctr_pt_position_z"])
    except FileNotFoundError:
        pytest.skip("the real basket cell's synapses are not on this machine")
    frame.iloc[:2000].reset_index(drop=True).to_feather(real)
    args = ["synapses", "--datadir", str(tmp_path / "data"), "--version", "1300", "--import", str(real)]
    with caplog.at_level(logging.WARNING):
        assert cli_main(args) == 0
    assert "2,000 of 2,000 positions fall outside the volume" in capsys.readouterr().err
    assert any("pass --position-unit nm" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cli_main(args + ["--position-unit", "nm"]) == 0
    assert "outside the volume" not in capsys.readouterr().err
    assert not [r for r in caplog.records if "outside the volume" in r.getMessage()]
