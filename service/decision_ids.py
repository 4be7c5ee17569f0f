"""Decision ids: UUIDs in the time-ordered layout of RFC 9562 (version 7).

The 48 high bits are the Unix time in milliseconds and the rest is random, so ids created one
after another sort in creation order (to the millisecond) and land at the end of the decision
log's unique index, where inserting costs a page already in memory. Random (version 4) ids
would each touch some page of an index that outgrows the cache within weeks.
"""

from __future__ import annotations

import os
import time
import uuid

import numpy as np

__all__ = ["new_decision_id", "new_decision_ids"]

_VERSION = 7
_VARIANT = 0b10  # RFC 9562


def new_decision_id() -> uuid.UUID:
    [made] = new_decision_ids(1)
    return made


# From this many ids they are stamped on arrays; fewer (a single score's) one by one, as
# numpy's set-up would cost more than it saves.
_ARRAY_FROM = 32


def new_decision_ids(count: int) -> list[uuid.UUID]:
    """`count` new ids, stamped with this millisecond: one clock read and one draw of random
    bytes for all of them (a batch asks for ten thousand)."""
    stamp = (time.time_ns() // 1_000_000) & ((1 << 48) - 1)
    if count >= _ARRAY_FROM:
        return _stamped_on_arrays(stamp, count)
    drawn = os.urandom(10 * count)
    made = []
    for start in range(0, 10 * count, 10):
        random = int.from_bytes(drawn[start : start + 10], "big")  # 80 bits, 74 of them kept
        value = stamp << 80 | _VERSION << 76 | ((random >> 62) & 0xFFF) << 64  # 12 random bits
        value |= _VARIANT << 62 | random & ((1 << 62) - 1)  # 62 random bits
        made.append(uuid.UUID(int=value))
    return made


def _stamped_on_arrays(stamp: int, count: int) -> list[uuid.UUID]:
    """The same layout, its version and variant bits set on all the ids at once."""
    made = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    made[:, :6] = np.frombuffer(stamp.to_bytes(6, "big"), dtype=np.uint8)  # 48 bits of time
    made[:, 6] = _VERSION << 4 | made[:, 6] & 0x0F  # then 12 random bits
    made[:, 8] = _VARIANT << 6 | made[:, 8] & 0x3F  # then 62 random bits
    drawn = made.tobytes()
    return [uuid.UUID(bytes=drawn[start : start + 16]) for start in range(0, 16 * count, 16)]
