"""Giving freed memory back to the system after a worker's large transient allocations.

Arrow's memory pool and glibc's heap keep what they freed for later use, so a worker would
carry the peak of its largest read or batch for its whole life. Both are asked to return what
they hold unused.
"""

from __future__ import annotations

import contextlib
import ctypes

import pyarrow as pa

__all__ = ["give_back_freed_memory"]


def give_back_freed_memory() -> None:
    """Return Arrow's and glibc's unused memory to the system (a few milliseconds)."""
    pa.default_memory_pool().release_unused()
    # Not glibc: nothing to call, and the process reuses the memory instead.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
