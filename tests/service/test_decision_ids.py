"""Decision ids are RFC 9562 version 7 UUIDs: time-ordered, random below the millisecond."""

from __future__ import annotations

import time

import pytest

from service.decision_ids import new_decision_id, new_decision_ids


def test_ids_have_the_version_and_variant_of_uuid7() -> None:
    ids = [new_decision_id() for _ in range(1_000)]
    assert all(i.version == 7 for i in ids)
    assert all(i.variant == "specified in RFC 4122" for i in ids)
    assert len(set(ids)) == len(ids)


def test_ids_carry_their_creation_time_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_decision_id()
    time.sleep(0.002)
    second = new_decision_id()
    after = time.time_ns() // 1_000_000
    stamped = [i.int >> 80 for i in (first, second)]
    assert before <= stamped[0] < stamped[1] <= after
    assert str(first) < str(second)  # the text sorts as the number does


@pytest.mark.parametrize("count", [5_000, 31, 2])  # stamped on arrays, and one by one
def test_ids_made_together_are_distinct_uuid7_of_one_millisecond(count: int) -> None:
    before = time.time_ns() // 1_000_000
    ids = new_decision_ids(count)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == count
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert len({i.int >> 80 for i in ids}) == 1
    assert before <= ids[0].int >> 80 <= after
    assert new_decision_ids(0) == []
