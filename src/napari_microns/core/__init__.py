"""The download-and-merge core of napari-microns: no napari or Qt imports here."""

from .dataset import Dataset
from .errors import AuthError, DataError, IncompleteError, MicronsError, NotFoundError, ServiceError, VersionError
from .session import RetryPolicy
from .server_versions import VersionList, versions
from .versions import supported_versions, tables_for

__all__ = [
    "AuthError", "DataError", "Dataset", "IncompleteError", "MicronsError", "NotFoundError",
    "RetryPolicy", "ServiceError", "VersionError", "VersionList", "supported_versions", "tables_for", "versions",
]
