"""What the pipeline hands the store: a document's manifest record and its embedded chunks.

`DocumentStore` (ragindex/store/documents.py) is the store, written once over a point-level
`Backend` (ragindex/store/backend.py): Qdrant Edge in-process, or qdrant-client against a server
or cluster. `ragindex.testing.store.StoreContract` proves it over each backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragindex.types import EmbeddedChunk, ManifestRecord

DocumentChunks = tuple[ManifestRecord, Sequence[EmbeddedChunk]]
