"""Results of functions of frozen values, found again by the value's identity.

`functools.lru_cache` hashes its arguments on every call. The hash of a frozen dataclass is
worked out in Python from every field, each time: for a dunning plan of seven steps that is
more than the work it saves. The recommendations of a batch pass the same few objects (the
policy's dunning rules, the cached plans and deadlines) ten thousand times, so these are looked
up by `id()` instead. Each entry holds its value: while it is kept, no other object can take
its identity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["by_identity"]

V = TypeVar("V")
R = TypeVar("R")


class _ByIdentity(Generic[V, R]):
    def __init__(self, function: Callable[[V], R], size: int) -> None:
        self._function = function
        self._size = size
        self._found: dict[int, tuple[V, R]] = {}
        functools.update_wrapper(self, function)

    def __call__(self, value: V) -> R:
        found = self._found.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        result = self._function(value)
        if len(self._found) >= self._size:  # rarely: a policy's values are few
            self._found = {}
        self._found[id(value)] = (value, result)
        return result


def by_identity(size: int) -> Callable[[Callable[[V], R]], Callable[[V], R]]:
    """Memoise a function of one immutable value by the value's identity, at most `size`
    values at a time (all are forgotten when full). Thread-safe: two threads may compute the
    same result, never see a wrong one."""

    def decorate(function: Callable[[V], R]) -> Callable[[V], R]:
        return _ByIdentity(function, size)

    return decorate
