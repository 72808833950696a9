"""The ingest plan as a table of cases: what is embedded, kept, removed, or needs `prune`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragindex.discovery import Candidate, FileType
from ragindex.plan import Plan, RootScan, plan_ingest
from ragindex.types import ManifestRecord

RECIPE = "r1"


def found(source: str, size: int = 10, mtime: float = 1.0) -> Candidate:
    return Candidate(Path(source), source, FileType("text", "plain"), size, mtime)


def indexed(
    source: str, size: int = 10, mtime: float = 1.0, recipe: str = RECIPE
) -> ManifestRecord:
    return ManifestRecord(source, "sha", 1, mtime, size, "text", "en", "plain", recipe)


def run(
    roots: list[RootScan],
    files: list[Candidate],
    manifest: list[ManifestRecord],
    *,
    unreadable: tuple[str, ...] = (),
    prune: bool = False,
) -> Plan:
    return plan_ingest(
        roots=roots,
        found=files,
        unreadable=unreadable,
        manifest={record.source: record for record in manifest},
        recipe=RECIPE,
        prune=prune,
    )


DOCS = RootScan("docs", "/d/docs")
SIX = [f"/d/docs/{n}.md" for n in "abcdef"]


@pytest.mark.parametrize(
    ("case", "roots", "files", "manifest", "unreadable", "prune", "expected"),
    [
        (
            "first run embeds everything",
            [DOCS],
            [found(s) for s in SIX],
            [],
            (),
            False,
            {"prepare": SIX, "unchanged": 0, "remove": [], "kept": [], "prune": []},
        ),
        (
            "nothing changed",
            [DOCS],
            [found(s) for s in SIX],
            [indexed(s) for s in SIX],
            (),
            False,
            {"prepare": [], "unchanged": 6, "remove": [], "kept": [], "prune": []},
        ),
        (
            "a changed size, a changed mtime and a new recipe are prepared again",
            [DOCS],
            [found(SIX[0], size=11), found(SIX[1], mtime=2.0), found(SIX[2])],
            [indexed(SIX[0]), indexed(SIX[1]), indexed(SIX[2], recipe="r0")],
            (),
            False,
            {"prepare": SIX[:3], "unchanged": 0, "remove": [], "kept": [], "prune": []},
        ),
        (
            "one deleted file of six is removed",
            [DOCS],
            [found(s) for s in SIX[1:]],
            [indexed(s) for s in SIX],
            (),
            False,
            {"prepare": [], "unchanged": 5, "remove": SIX[:1], "kept": [], "prune": []},
        ),
        (
            "a missing root removes nothing",
            [RootScan("docs", "/d/docs", "no such file or folder")],
            [],
            [indexed(s) for s in SIX],
            (),
            False,
            {"prepare": [], "unchanged": 0, "remove": [], "kept": [], "prune": []},
        ),
        (
            "an emptied root (unmounted share) needs prune",
            [DOCS],
            [],
            [indexed(s) for s in SIX],
            (),
            False,
            {"prepare": [], "unchanged": 0, "remove": SIX, "kept": [], "prune": [("docs", 6, 6)]},
        ),
        (
            "an emptied root with prune removes all",
            [DOCS],
            [],
            [indexed(s) for s in SIX],
            (),
            True,
            {"prepare": [], "unchanged": 0, "remove": SIX, "kept": [], "prune": []},
        ),
        (
            "half of a root removed is allowed, more is not",
            [DOCS],
            [found(s) for s in SIX[3:]],
            [indexed(s) for s in SIX],
            (),
            False,
            {"prepare": [], "unchanged": 3, "remove": SIX[:3], "kept": [], "prune": []},
        ),
        (
            "an unreadable folder keeps what is indexed under it",
            [DOCS],
            [found("/d/docs/a.md")],
            [indexed("/d/docs/a.md"), indexed("/d/docs/locked/x.md"), indexed("/d/docs/b.md")],
            ("/d/docs/locked",),
            False,
            {
                "prepare": [],
                "unchanged": 1,
                "remove": ["/d/docs/b.md"],
                "kept": ["/d/docs/locked/x.md"],
                "prune": [],
            },
        ),
        (
            "an unreadable file keeps its indexed version",
            [DOCS],
            [found(s) for s in SIX[1:]],
            [indexed(s) for s in SIX],
            (SIX[0],),
            False,
            {"prepare": [], "unchanged": 5, "remove": [], "kept": SIX[:1], "prune": []},
        ),
        (
            "documents of another root are never touched",
            [DOCS],
            [found(s) for s in SIX],
            [indexed(s) for s in SIX] + [indexed("/d/notes/n.md"), indexed("/d/docs2/x.md")],
            (),
            False,
            {"prepare": [], "unchanged": 6, "remove": [], "kept": [], "prune": []},
        ),
        (
            "portable roots carry their name: a second root leaves the first alone",
            [RootScan("b", "b")],
            [found("b/README.md")],
            [indexed("a/README.md"), indexed("a/x.md")],
            (),
            False,
            {"prepare": ["b/README.md"], "unchanged": 0, "remove": [], "kept": [], "prune": []},
        ),
        (
            "a single-file root that is gone is a failed root, not a removal",
            [RootScan("docs/a.md", "/d/docs/a.md", "no such file or folder")],
            [],
            [indexed("/d/docs/a.md"), indexed("/d/docs/a.md.bak")],
            (),
            False,
            {"prepare": [], "unchanged": 0, "remove": [], "kept": [], "prune": []},
        ),
    ],
)
def test_plan(
    case: str,
    roots: list[RootScan],
    files: list[Candidate],
    manifest: list[ManifestRecord],
    unreadable: tuple[str, ...],
    prune: bool,
    expected: dict[str, object],
) -> None:
    plan = run(roots, files, manifest, unreadable=unreadable, prune=prune)
    assert sorted(c.source for c in plan.prepare) == expected["prepare"], case
    assert plan.unchanged == expected["unchanged"], case
    assert plan.remove == expected["remove"], case
    assert plan.kept == expected["kept"], case
    assert [(p.root, p.removing, p.indexed) for p in plan.prune_needed] == expected["prune"], case


def test_a_time_one_unit_in_the_last_place_off_is_the_same_time() -> None:
    """The embedded store's JSON may hand a recorded float back a unit in the last place off:
    that file is unchanged, not read again on every run."""
    seen = 1796019593.4152853
    recorded = 1796019593.415285
    assert recorded != seen
    plan = run([DOCS], [found(SIX[0], mtime=seen)], [indexed(SIX[0], mtime=recorded)])
    assert plan.unchanged == 1 and plan.prepare == []


def test_a_failed_root_is_reported_by_the_path_the_user_gave() -> None:
    plan = run([RootScan("./typo", "/d/typo", "no such file or folder"), DOCS], [], [])
    assert plan.failed_roots == {"./typo": "no such file or folder"}
