"""The one exception hierarchy of ragindex: every error a user can meet says what to do next.

Errors of the libraries underneath (qdrant, httpx, pypdf) are translated into these at the module
that talks to them, so callers catch `RagindexError` and nothing else.
"""

from __future__ import annotations


class RagindexError(Exception):
    """Base class of every error ragindex raises on purpose."""


class ConfigError(RagindexError, ValueError):
    """A setting or an argument is missing, malformed or contradicts another one."""


class EmbeddingError(RagindexError):
    """The embedding model or server could not embed the input."""


class EmbeddingServerUnavailable(EmbeddingError):
    """The embedding server cannot be reached at all (refused, DNS, down)."""


class RerankError(RagindexError):
    """The rerank stage could not reorder the candidates (no server reachable, every attempt
    failed, the request refused, a wrong key). The searcher shows the fused order instead."""


class StoreError(RagindexError):
    """The vector store refused or failed an operation."""


class StoreLockedError(StoreError):
    """The embedded store folder is held by another process."""


class CollectionMismatchError(StoreError):
    """The collection was built with another model, dimension or sparse scheme."""


class SourceError(RagindexError):
    """A file could not be read into a document (the reason is in the message)."""


class IngestBusyError(RagindexError):
    """Another ingest is running on this index; one at a time."""


class PruneRequiredError(RagindexError):
    """The run would remove most of what was indexed from a root: it needs `--prune`."""


class IngestAborted(RagindexError):
    """A run stopped part-way (every embedding server lost, the store failing); `report` holds
    what was committed before the stop, which the next run keeps."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class PathError(SourceError):
    """A path given to ingest is missing, unmounted or unreadable: nothing indexed from it is
    removed."""
