"""The cyclic garbage collector is paused while batches are scored, and as it was afterwards."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from service.memory import cyclic_collection_paused

from .conftest import TestClient, collector_pauses_ended


@pytest.fixture
def collector_on() -> Iterator[None]:
    collector_pauses_ended()
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_in_the_block_and_on_again_after(collector_on: None) -> None:
    with cyclic_collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cyclic_collection_paused():
        raise RuntimeError("a batch that fails")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(collector_on: None) -> None:
    gc.disable()
    with cyclic_collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_on_again_only_once_every_overlapping_block_has_ended(collector_on: None) -> None:
    """Two batches in two threads: the first to end must not restart the collector while
    the other still runs."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with cyclic_collection_paused():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with cyclic_collection_paused():
            second_in.set()
            first_out.wait(10)
            seen["while the second runs"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"while the second runs": False}
    assert gc.isenabled()


def test_on_again_after_a_batch_answered_or_refused(client: TestClient, collector_on: None) -> None:
    client.app.state.service.scorer.whole_ledger.wait_loaded()  # type: ignore[attr-defined]
    answered = client.post("/v1/score/batch", json={"items": [{"customer_id": "C00001"}] * 3})
    assert answered.status_code == 200
    collector_pauses_ended()  # a request may start a read of the book
    assert gc.isenabled()
    refused = client.post(
        "/v1/score/batch", json={"items": [{"customer_id": "C00001"}, {"customer_id": "NOBODY"}]}
    )
    assert refused.status_code == 404
    collector_pauses_ended()
    assert gc.isenabled()
