"""napari-microns: the MICrONS mm³ connectome (minnie65_public) in napari.

The library part (``napari_microns.core``) downloads and merges CAVE tables,
synapses and morphology; the plugin part turns them into napari layers.
"""

from .core import (
    AuthError,
    DataError,
    Dataset,
    IncompleteError,
    MicronsError,
    NotFoundError,
    RetryPolicy,
    ServiceError,
    VersionError,
    VersionList,
    supported_versions,
    tables_for,
    versions,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError", "DataError", "Dataset", "IncompleteError", "MicronsError", "NotFoundError",
    "RetryPolicy", "ServiceError", "VersionError", "VersionList", "__version__", "supported_versions", "tables_for",
    "versions",
]
