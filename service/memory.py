"""A worker's large transient allocations: memory given back, collections put off.

Arrow's memory pool and glibc's heap keep what they freed for later use, so a worker would
carry the peak of its largest read or batch for its whole life. Both are asked to return what
they hold unused.

Python's cyclic garbage collector runs whenever 700 more objects are allocated than freed. A
batch's answers are tens of thousands of objects that live until the batch is answered (none
in a cycle: reference counting frees them), so the collector ran hundreds of times over
objects it could never free: 17 % of a batch of 10,000 with terms (1.00 s against 0.83-0.86 s
in process), a few percent of one with scores only. It is paused while a batch is scored, and
while a worker reads the whole ledger into memory: the read's rows made it run 3,000 times,
full passes among them that held every request of the worker, for a third of the read
(`bench/bench_book.py`: 3.3 s against 2.0 s at the make-run size).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Iterator

import pyarrow as pa

__all__ = ["collection_paused", "cyclic_collection_paused", "give_back_freed_memory"]

_pausing = threading.Lock()
_paused_by = 0  # blocks running with the collector paused
_was_enabled = True  # whether the collector ran before the first of them


def give_back_freed_memory() -> None:
    """Return Arrow's and glibc's unused memory to the system (a few milliseconds)."""
    pa.default_memory_pool().release_unused()
    # Not glibc: nothing to call, and the process reuses the memory instead.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@contextlib.contextmanager
def cyclic_collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the block runs, and as it was once the last
    of the blocks running at the same time (other threads') ends."""
    global _paused_by, _was_enabled
    with _pausing:
        if _paused_by == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused_by += 1
    try:
        yield
    finally:
        with _pausing:
            _paused_by -= 1
            if _paused_by == 0 and _was_enabled:
                gc.enable()


def collection_paused() -> bool:
    """Whether some block (in any thread) runs with the collector paused."""
    with _pausing:
        return _paused_by > 0
