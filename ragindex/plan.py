"""What an ingest will do, decided before anything is written: a pure function of what the walk
found and what the index holds.

Removal follows rsync's and git's caution: a document leaves the index only when its file was
seen gone under a root that was read whole. A root that is missing or unreadable, or a folder
under it that could not be listed, protects everything indexed under it; a run that would remove
more than half of what a root holds stops and asks for `prune` (an unmounted share, an emptied
checkout and a typo look alike from here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ragindex.discovery import Candidate
from ragindex.types import ManifestRecord

# a run may remove at most this share of the documents a root holds unless told to prune
PRUNE_SHARE = 0.5
# far below any filesystem's timestamp step that matters, far above a float's last place
_MTIME_TOLERANCE_S = 1e-6


@dataclass(frozen=True, slots=True)
class RootScan:
    """One path given to ingest, as the walk saw it."""

    path: str  # as the user gave it, for messages
    source: str  # the source prefix of every document under it (`discovery.root_source`)
    problem: str | None = None  # why it could not be walked at all; None when it was


@dataclass(frozen=True, slots=True)
class PruneCheck:
    """A root whose run would remove more than `PRUNE_SHARE` of its indexed documents."""

    root: str
    removing: int
    indexed: int


@dataclass
class Plan:
    prepare: list[Candidate] = field(default_factory=list)  # new, changed, or a new recipe
    unchanged: int = 0
    remove: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # gone from view, under an unreadable folder
    failed_roots: dict[str, str] = field(default_factory=dict)  # root -> problem
    prune_needed: list[PruneCheck] = field(default_factory=list)


def same_mtime(recorded: float, seen: float) -> bool:
    """Whether a file's modification time is the one recorded. Not `==`: the embedded store's
    JSON payloads may come back one unit in the last place off (its float parsing is not always
    correctly rounded), and such a file would be read again on every run."""
    return abs(recorded - seen) <= _MTIME_TOLERANCE_S


def under(source: str, prefix: str) -> bool:
    """Whether `source` is `prefix` itself or lies inside the folder `prefix`."""
    return source == prefix or source.startswith(prefix.rstrip("/") + "/")


def needs_preparing(candidate: Candidate, known: ManifestRecord | None, recipe: str) -> bool:
    """Whether a file found must be read: it is new, its size or time changed, or it was
    indexed with another recipe. (A file read again whose bytes are the same only has its
    record updated: `preparing.prepare_file`.)"""
    return not (
        known is not None
        and known.size == candidate.size
        and same_mtime(known.mtime, candidate.mtime)
        and known.recipe == recipe
    )


def plan_ingest(
    *,
    roots: Sequence[RootScan],
    found: Iterable[Candidate],
    unreadable: Iterable[str],
    manifest: Mapping[str, ManifestRecord],
    recipe: str,
    prune: bool = False,
) -> Plan:
    """Sort every file found into prepare / unchanged, and every indexed document under the
    roots that was not found into remove / kept.

    `unreadable`: sources of folders and files that exist but could not be read this time;
    whatever is indexed at or under them is kept. `recipe`: how documents are prepared now; a
    document indexed with another recipe is prepared again even if its file did not change.
    """
    plan = Plan()
    seen: set[str] = set()
    for candidate in found:
        seen.add(candidate.source)
        if needs_preparing(candidate, manifest.get(candidate.source), recipe):
            plan.prepare.append(candidate)
        else:
            plan.unchanged += 1
    protected = [root.source for root in roots if root.problem is not None]
    protected.extend(unreadable)
    plan.failed_roots = {root.path: root.problem for root in roots if root.problem is not None}
    walked = [root for root in roots if root.problem is None]
    removing: dict[str, list[str]] = {root.source: [] for root in walked}
    for source in manifest:
        if source in seen:
            continue
        owner = next((root.source for root in walked if under(source, root.source)), None)
        if owner is None:
            continue  # indexed from a root this run was not asked about
        if any(under(source, prefix) for prefix in protected):
            plan.kept.append(source)
        else:
            removing[owner].append(source)
    for root in walked:
        gone = removing[root.source]
        if not gone:
            continue
        indexed = sum(1 for source in manifest if under(source, root.source))
        if not prune and len(gone) > indexed * PRUNE_SHARE:
            plan.prune_needed.append(PruneCheck(root.path, len(gone), indexed))
        plan.remove.extend(gone)
    plan.remove.sort()
    plan.kept.sort()
    return plan
