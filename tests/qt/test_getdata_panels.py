"""The Get data tab with a real napari viewer: signing in against a fake CAVE auth server (token
files private, the token never shown), and a version downloaded, cancelled part-way, resumed,
processed and loaded through the panel against the fake CAVE server, with a bar in napari's
Activity dock for each job and one notification per failure."""

from __future__ import annotations

import itertools
import json
import stat
import threading

import pandas as pd
import pytest
import responses
from qtpy.QtWidgets import QLineEdit

from support import FAST_RETRY
from support.fake_auth import FakeAuth
from support.fake_cave import FakeCAVE
from napari_microns import Dataset
from napari_microns.core.account import GLOBAL_SERVER
from napari_microns.core.tables import is_complete
from napari_microns.sample.tables import functional_tables, raw_tables, synthetic_units

GOOD, BAD, NO_ACCESS = "good-token-0123456789abcdef", "wrong-token-9876543210", "forbidden-token-55555"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME of the test's own: caveclient's token files go under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def bars():
    """The napari progress bars made and closed while the test runs (what the Activity dock sees)."""
    from napari.utils.progress import progress

    made, closed = [], []

    def changed(event):
        made.extend(event.added)
        closed.extend(event.removed)

    progress._all_instances.events.changed.connect(changed)
    yield made, closed
    progress._all_instances.events.changed.disconnect(changed)


@pytest.fixture
def widget(home, make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-microns", "MICrONS explorer")
    w.account.retry = w.get_version.retry = FAST_RETRY
    yield w
    if w.download_panel.worker is not None:  # never leave a thread behind
        w.download_panel.cancel()
        qtbot.waitUntil(lambda: w.download_panel.worker is None, timeout=30_000)


def _tab_of(widget, panel):
    tabs = widget.tabs
    return next(tabs.tabText(i) for i in range(tabs.count()) if tabs.widget(i).isAncestorOf(panel))


def _sign_in(panel, qtbot, token):
    panel.token_edit.setText(token)
    panel.sign_in_button.click()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=20_000)


def test_sign_in_with_a_good_token_saves_it_privately_and_names_the_account(widget, home, qtbot, bars, notifications):
    panel = widget.signin_panel
    assert _tab_of(widget, panel) == "Get data" and _tab_of(widget, widget.download_panel) == "Get data"
    assert panel.url_label.text() == "https://global.daf-apis.com/auth/api/v1/create_token"
    assert panel.token_edit.echoMode() == QLineEdit.EchoMode.Password
    assert panel.status_label.text() == "not signed in: no token saved"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        auth = FakeAuth({GOOD: (42, "Ada Lovelace", "ada@example.org")}, server=GLOBAL_SERVER).install(mock)
        _sign_in(panel, qtbot, GOOD)
    assert "signed in as Ada Lovelace <ada@example.org>" in panel.status_label.text()
    assert widget.account.state.user.id == 42 and widget.account.state.token_saved
    assert panel.token_edit.text() == ""  # nothing of the token stays in the window
    assert GOOD not in panel.status_label.text() and not notifications
    assert auth.seen and all(url.startswith(GLOBAL_SERVER + "/") for url, _ in auth.seen)  # only CAVE's host
    secrets = home / ".cloudvolume" / "secrets"
    files = [secrets / "cave-secret.json", secrets / "global.daf-apis.com-cave-secret.json"]
    for path in files:
        assert json.loads(path.read_text())["token"] == GOOD
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert len(bars[0]) == 1 and bars[1] == bars[0]  # one bar for the check, closed

    # the saved token, checked again later, names the same account
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeAuth({GOOD: (42, "Ada Lovelace", "ada@example.org")}, server=GLOBAL_SERVER).install(mock)
        panel.check_button.click()
        qtbot.waitUntil(lambda: panel.worker is None, timeout=20_000)
    assert panel.status_label.text() == "signed in as Ada Lovelace <ada@example.org>"


def test_a_wrong_or_refused_token_is_one_line_and_not_saved(widget, home, qtbot, bars, notifications):
    panel = widget.signin_panel
    panel.check_clicked()  # nothing saved yet: said at once, no server asked
    qtbot.waitUntil(lambda: panel.worker is None, timeout=20_000)
    assert len(notifications) == 1 and "no CAVE token is saved" in notifications[0].message
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakeAuth({GOOD: (42, "Ada Lovelace", "ada@example.org")}, forbidden={NO_ACCESS},
                 server=GLOBAL_SERVER).install(mock)
        _sign_in(panel, qtbot, GOOD)
        _sign_in(panel, qtbot, BAD)
        assert len(notifications) == 2
        wrong = notifications[1].message
        assert "(401)" in wrong and "wrong or has expired" in wrong and "create_token" in wrong
        assert panel.status_label.text() == f"not signed in: {wrong}"
        _sign_in(panel, qtbot, NO_ACCESS)
    assert len(notifications) == 3 and "(403)" in notifications[2].message
    for n in notifications:
        assert "\n" not in n.message and not any(t in n.message for t in (GOOD, BAD, NO_ACCESS))
    saved = home / ".cloudvolume" / "secrets" / "cave-secret.json"
    assert json.loads(saved.read_text())["token"] == GOOD  # the refused tokens replaced nothing
    assert panel.token_edit.text() == NO_ACCESS  # kept (hidden) so it can be corrected
    assert len(bars[0]) == 4 and sorted(map(id, bars[1])) == sorted(map(id, bars[0]))


def test_a_server_out_of_reach_saves_nothing(widget, home, qtbot, notifications):
    panel = widget.signin_panel
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no auth server: connections refused
        _sign_in(panel, qtbot, GOOD)
    assert len(notifications) == 1
    message = notifications[0].message
    assert "could not reach the CAVE auth service" in message and GOOD not in message
    assert not (home / ".cloudvolume" / "secrets" / "cave-secret.json").exists()
    assert panel.status_label.text() == f"not signed in: {message}"


# -- Get a version ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server_tables():
    tables = raw_tables(synthetic_units(300))
    tables.update(functional_tables(tables["nucleus_detection_v0"]))
    return tables


def _wait_download(panel, qtbot):
    qtbot.waitUntil(lambda: panel.worker is None, timeout=60_000)


def test_download_cancel_resume_process_and_load(widget, tmp_path, qtbot, server_tables, bars, notifications):
    panel, model = widget.download_panel, widget.get_version
    fake = FakeCAVE(server_tables, versions=[1300, 1412], row_cap=40)
    client = fake.client(1300)
    model.use_client(lambda: client)
    datadir = tmp_path / "data"
    reached, go, queries = threading.Event(), threading.Event(), itertools.count()

    def hold_the_sixth_query(table, body):  # the test cancels while the sixth page is in flight
        if next(queries) == 5:
            reached.set()
            go.wait(20)

    with fake:
        panel.datadir_edit.setText(str(datadir))
        panel.list_button.click()
        qtbot.waitUntil(lambda: panel.list_worker is None, timeout=20_000)
        offered = {panel.version_combo.itemData(i): panel.version_combo.itemText(i)
                   for i in range(panel.version_combo.count())}
        assert 1300 in offered and "served" in offered[1300]
        panel.version_combo.setCurrentIndex(panel.version_combo.findData(1300))

        fake.fault_fn = hold_the_sixth_query
        panel.download_button.click()
        qtbot.waitUntil(reached.is_set, timeout=30_000)
        assert not panel.download_button.isEnabled() and panel.cancel_button.isEnabled()
        panel.cancel_button.click()
        go.set()
        _wait_download(panel, qtbot)
        assert panel.status_label.text().startswith("cancelled")
        ds = Dataset(datadir, version=1300)
        tables = ds.tables.annotation_tables()
        assert not all(is_complete(ds.layout, t) for t in tables) and not ds.layout.units_path.exists()
        assert widget.scene.features is None and not notifications
        n_before = len(fake.requests)

        fake.fault_fn = None
        panel.download_button.click()  # again: continues where it stopped
        _wait_download(panel, qtbot)
    assert not notifications, [n.message for n in notifications]
    assert all(is_complete(ds.layout, t) for t in tables) and ds.layout.units_path.exists()
    summary = panel.summary_text.toPlainText()
    assert not panel.summary_text.isHidden() and "units" in summary and "layers (µm below pia):" in summary
    assert "removed" in summary
    assert panel.status_label.text().startswith(f"version 1300: {len(ds.units()):,} units")
    assert widget.scene.features is not None and len(widget.scene.features) == len(ds.units())
    assert "units" in widget.viewer.layers and not notifications

    # the resumed download has the same files as one never interrupted
    whole = FakeCAVE(server_tables, versions=[1300, 1412], row_cap=40)
    ds_whole = Dataset(tmp_path / "whole", version=1300, client=whole.client(1300), retry=FAST_RETRY)
    with whole:
        ds_whole.download_tables()
    assert 0 < len(fake.requests) - n_before < len(whole.requests)  # the rerun asked only for what was missing
    for table in tables:
        pd.testing.assert_frame_equal(pd.read_parquet(ds.layout.raw_table(table)),
                                      pd.read_parquet(ds_whole.layout.raw_table(table)))
    made, closed = bars
    assert len(made) == 3 and sorted(map(id, closed)) == sorted(map(id, made))  # list, cancelled run, resumed run
    assert made[2].total == len(tables) + 2 and made[2].n >= len(tables)  # every table counted


def test_a_failed_download_is_one_notification_and_closes_its_bar(widget, tmp_path, qtbot, server_tables, bars,
                                                                 notifications):
    panel, model = widget.download_panel, widget.get_version
    fake = FakeCAVE(server_tables, versions=[1300, 1412])
    client = fake.client(1300)
    model.use_client(lambda: client)
    fake.faults["nucleus_detection_v0"] += [401]
    with fake:
        panel.download(tmp_path / "data", 1300)
        _wait_download(panel, qtbot)
    assert len(notifications) == 1
    message = notifications[0].message
    assert "(401)" in message and "\n" not in message
    assert panel.status_label.text() == f"stopped: {message}"
    assert panel.download_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert len(bars[0]) == 1 and bars[1] == bars[0]
    assert widget.scene.features is None
