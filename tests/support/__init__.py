"""What the tests share: fake CAVE servers speaking the real wire formats (``fake_cave``,
``fake_skeleton_service``), precomputed layers written for cloud-volume to read
(``precomputed``), the synthetic sample made once per session (``sample``), and a retry
policy that does not really wait.

Importable as ``support`` because pyproject.toml puts ``tests/`` on pytest's ``pythonpath``.
"""

from __future__ import annotations

from napari_microns.core.session import RetryPolicy

#: Retries without real waiting, so fault tests stay fast.
FAST_RETRY = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.005)
