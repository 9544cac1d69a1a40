"""Exceptions with one-line, actionable messages.

Every failure a user can cause or meet (a bad root id, no token, a server
that is down, a corrupt file) is raised as a :class:`MicronsError` subclass
whose ``str()`` is a single line that says what to do. The CLI prints that
line; the napari widget shows it as a notification.
"""

from __future__ import annotations


class MicronsError(Exception):
    """Base class: an expected failure with a one-line message."""

    def __init__(self, message: str):
        # Keep the message on one line whatever the cause text looks like.
        super().__init__(" ".join(str(message).split()))


class VersionError(MicronsError):
    """Unknown materialization version, or one the server no longer serves."""


class AuthError(MicronsError):
    """Missing, invalid or insufficient CAVE token."""


class NotFoundError(MicronsError):
    """A table, root id or resource does not exist (HTTP 404 or equivalent)."""


class ServiceError(MicronsError):
    """A server kept failing (5xx, 429, connection errors) after retries."""


class DataError(MicronsError):
    """A local file is missing, corrupt, or not in the expected format."""


class IncompleteError(MicronsError):
    """Some parts of a download failed; the parts that succeeded were kept.

    ``results``: what was fetched, by root id (morphology); ``failures``: the one-line
    reason per root id that failed; ``report``: the synapse download's report.
    """

    def __init__(self, message: str, *, results: dict | None = None, failures: dict | None = None,
                 report: object | None = None):
        super().__init__(message)
        self.results = results if results is not None else {}
        self.failures = failures if failures is not None else {}
        self.report = report


class BusyError(MicronsError):
    """Another process holds the write lock of a data folder part, and did not let go in time."""


class StorageError(MicronsError):
    """The file system refused: permission denied, disk full, a file where a folder should be."""
