"""ragindex: index folders of documents and code into Qdrant and search them semantically.

from ragindex import Index
with Index.open() as index:
    index.ingest(["docs/"])
    for hit in index.search("how do I configure logging?", k=5):
        print(hit.score, hit.source, hit.text[:80])
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragindex.activity import IngestActivity
    from ragindex.api import AsyncIndex, Index
    from ragindex.config import Settings
    from ragindex.errors import (
        CollectionMismatchError,
        ConfigError,
        EmbeddingError,
        EmbeddingServerUnavailable,
        IngestAborted,
        IngestBusyError,
        PathError,
        PruneRequiredError,
        RagindexError,
        RerankError,
        SourceError,
        StoreError,
        StoreLockedError,
    )
    from ragindex.fusion import FusionSettings
    from ragindex.progress import Progress
    from ragindex.types import Filters, Hit, IngestReport, SearchResults


# where each public name lives: imported on first use, so that a process needing one small part
# (the store engine's, a reader worker's) does not pay for loading all of ragindex
_HOMES = {
    "IngestActivity": "ragindex.activity",
    "AsyncIndex": "ragindex.api",
    "Index": "ragindex.api",
    "Settings": "ragindex.config",
    "FusionSettings": "ragindex.fusion",
    "Progress": "ragindex.progress",
    "Filters": "ragindex.types",
    "Hit": "ragindex.types",
    "IngestReport": "ragindex.types",
    "SearchResults": "ragindex.types",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    if name in __all__:
        return getattr(import_module("ragindex.errors"), name)
    raise AttributeError(f"module 'ragindex' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "AsyncIndex",
    "CollectionMismatchError",
    "ConfigError",
    "EmbeddingError",
    "EmbeddingServerUnavailable",
    "Filters",
    "FusionSettings",
    "Hit",
    "Index",
    "IngestAborted",
    "IngestActivity",
    "IngestBusyError",
    "IngestReport",
    "PathError",
    "Progress",
    "PruneRequiredError",
    "RagindexError",
    "RerankError",
    "SearchResults",
    "Settings",
    "SourceError",
    "StoreError",
    "StoreLockedError",
    "__version__",
]
