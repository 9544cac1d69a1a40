"""Fixtures of the napari tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def notifications():
    from napari.utils.notifications import notification_manager

    seen = []
    notification_manager.notification_ready.connect(seen.append)
    yield seen
    notification_manager.notification_ready.disconnect(seen.append)


@pytest.fixture
def bars():
    """The napari progress bars (what napari's Activity dock shows) made and closed during the
    test: ``{"added": [...], "removed": [...]}``, each bar as ``(id, description when made)``."""
    from napari.utils.progress import progress

    seen = {"added": [], "removed": []}
    made = {}

    def changed(event):
        for p in event.added:
            made[id(p)] = (id(p), p.desc.rstrip(": "))
            seen["added"].append(made[id(p)])
        seen["removed"] += [made.get(id(p), (id(p), "")) for p in event.removed]

    progress._all_instances.events.changed.connect(changed)
    yield seen
    progress._all_instances.events.changed.disconnect(changed)
