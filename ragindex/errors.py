"""The one exception hierarchy of ragindex: every error a user can meet says what to do next.

Errors of the libraries underneath (qdrant, httpx, pypdf) are translated into these at the module
that talks to them, so callers catch `RagindexError` and nothing else.
"""

from __future__ import annotations


class RagindexError(Exception):
    """Base class of every error ragindex raises on purpose."""


class ConfigError(RagindexError):
    """A setting is missing, malformed or contradicts another one."""


class EmbeddingError(RagindexError):
    """The embedding model or server could not embed the input."""


class EmbeddingServerUnavailable(EmbeddingError):
    """The embedding server cannot be reached at all (refused, DNS, down)."""


class StoreError(RagindexError):
    """The vector store refused or failed an operation."""


class StoreLockedError(StoreError):
    """The embedded store folder is held by another process."""


class CollectionMismatchError(StoreError):
    """The collection was built with another model, dimension or sparse scheme."""


class SourceError(RagindexError):
    """A file could not be read into a document (the reason is in the message)."""
