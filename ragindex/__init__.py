"""ragindex: index folders of documents and code into Qdrant and search them semantically.

from ragindex import Index
with Index.open() as index:
    index.ingest(["docs/"])
    for hit in index.search("how do I configure logging?", k=5):
        print(hit.score, hit.source, hit.text[:80])
"""

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
