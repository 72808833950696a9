"""Fan-outs that leave nothing behind: every request an embedder starts is finished or cancelled
and awaited before the call returns, and a failure reaches the caller as one `RagindexError`.

`asyncio.gather` leaves the other requests running when one fails (they end up "destroyed but
pending"); a bare `TaskGroup` cancels them but raises an `ExceptionGroup`, which callers cannot
catch as our error type. This wraps a `TaskGroup` and unwraps its group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from ragindex.errors import EmbeddingError, RagindexError


async def run_all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run the coroutines concurrently; on the first failure cancel the others, wait for them to
    end, and raise that failure alone."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as failures:
        raise single_error(failures) from None


def single_error(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error to report for a group: our own error if there is one (the first raised),
    else the first other error wrapped in `EmbeddingError` so that callers see one type."""
    leaves = list(_leaves(failures))
    for leaf in leaves:
        if isinstance(leaf, RagindexError):
            return leaf
    for leaf in leaves:
        if not isinstance(leaf, Exception):
            return leaf  # KeyboardInterrupt, SystemExit: not ours to translate
    first = leaves[0]
    wrapped = EmbeddingError(f"the embedder failed unexpectedly: {type(first).__name__}: {first}")
    wrapped.__cause__ = first
    return wrapped


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterable[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error
