"""Compressed request bodies (Content-Encoding): decoded within the body limit, or refused
with a status and a message naming the body."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import zstandard
from httpx import Client, Response
from hypothesis import given, settings
from hypothesis import strategies as st

from features.ledger import LedgerStore
from service.app import create_app
from service.content_coding import (
    CodingTooLarge,
    CodingUnknown,
    CodingUnreadable,
    compressed,
    decoded,
)

from .conftest import TODAY, TestClient, app_on_a_copy, as_sent, service_settings, signed_in
from .live_server import live_server
from .test_faults import WAIT_SECONDS, _service_data, _settings
from .test_ingestion import INVOICE

LIMIT = 64 * 1024


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


_PACK = {"gzip": gzip.compress, "zstd": _zstd}


@pytest.fixture
def erp(tmp_path: Path, data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    with signed_in(app_on_a_copy(tmp_path, data_dir, model_dir), roles=["erp"]) as client:
        yield client


@pytest.fixture
def small(data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    """The service with a body limit of 64 KiB."""
    settings_ = service_settings(data_dir, model_dir, max_body_bytes=LIMIT)
    with signed_in(create_app(settings_, today=lambda: TODAY), roles=["sales"]) as client:
        yield client


def _sent(client: Client, method: str, path: str, body: bytes, coding: str) -> Response:
    headers = {"content-type": "application/json", "content-encoding": coding}
    return client.request(method, path, content=body, headers=headers)


@pytest.mark.parametrize("coding", ["gzip", "zstd", "GZIP", "gzip, zstd", "identity"])
def test_a_compressed_bulk_write_is_stored_as_if_sent_as_it_is(
    erp: TestClient, coding: str
) -> None:
    items = [{**INVOICE, "invoice_id": f"PACKED-{i}"} for i in range(200)]
    body = json.dumps({"items": items}).encode()
    for applied in (c.strip().lower() for c in coding.split(",")):  # in the order named
        body = _PACK[applied](body) if applied != "identity" else body
    response = _sent(erp, "PUT", "/v1/invoices", body, coding)
    assert response.status_code == 201, response.text
    assert response.json()["added"] == 200
    store: LedgerStore = erp.app.state.service.store  # type: ignore[attr-defined]
    stored = store.read("invoice")
    assert stored["invoice_id"].str.startswith("PACKED-").sum() == 200


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_a_body_that_decodes_beyond_the_limit_is_413(small: TestClient, coding: str) -> None:
    """A few kilobytes that expand past the limit (a decompression bomb) are cut at it."""
    padding = " " * (50 * LIMIT)  # JSON allows the spaces; 3.2 MB decoded
    body = _PACK[coding](b'{"customer_id": "C00001"' + padding.encode() + b"}")
    assert len(body) < LIMIT / 4
    response = _sent(small, "POST", "/v1/score", body, coding)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "decoded request body" in response.json()["message"]
    assert response.json()["fields"] == [{"field": "body", "reason": f"at most {LIMIT} bytes"}]
    within = _PACK[coding](b'{"customer_id": "C00001"' + b" " * 1000 + b"}")
    answered = _sent(small, "POST", "/v1/score", within, coding)
    assert answered.status_code == 200, answered.text


def test_a_coding_not_offered_is_415_naming_it_and_those_read(small: TestClient) -> None:
    response = _sent(small, "POST", "/v1/score", b"\x1b\x00\x00", "br")
    assert response.status_code == 415
    assert response.json()["error"] == "content_encoding_unsupported"
    assert "br" in response.json()["message"]
    assert response.headers["accept-encoding"] == "zstd, gzip"


BODY = json.dumps({"customer_id": "C00001"}).encode()


@pytest.mark.parametrize(
    ("coding", "body", "says"),
    [
        ("gzip", b"this is not gzip at all", "not gzip"),
        ("gzip", gzip.compress(BODY)[:-6], "cut short"),
        ("gzip", gzip.compress(BODY) + b"trailing", "not gzip"),
        ("zstd", b"this is not zstd at all", "not zstd"),
        ("zstd", _zstd(BODY)[:-3], "cut short"),
        ("zstd", gzip.compress(BODY), "not zstd"),
    ],
    ids=["gzip-garbage", "gzip-truncated", "gzip-trailing", "zstd-garbage", "zstd-truncated",
         "gzip-sent-as-zstd"],
)  # fmt: skip
def test_a_body_that_does_not_decode_is_400_naming_the_coding(
    small: TestClient, coding: str, body: bytes, says: str
) -> None:
    response = _sent(small, "POST", "/v1/score", body, coding)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "body_not_decodable"
    assert coding in answer["message"]
    assert says in answer["message"]
    assert answer["fields"][0]["field"] == "body"


def test_several_gzip_members_and_zstd_frames_decode_whole() -> None:
    assert decoded(gzip.compress(b"[1,") + gzip.compress(b"2]"), "gzip", 100) == b"[1,2]"
    assert decoded(_zstd(b"[1,") + _zstd(b"2]"), "zstd", 100) == b"[1,2]"


def test_the_limit_is_exact() -> None:
    data = b"x" * 1000
    for coding, pack in _PACK.items():
        assert decoded(pack(data), coding, 1000) == data
        with pytest.raises(CodingTooLarge):
            decoded(pack(data), coding, 999)
    with pytest.raises(CodingUnknown):
        decoded(data, "gzip, br", 10_000)  # refused before anything is decoded
    with pytest.raises(CodingUnreadable):
        decoded(b"", "gzip", 10)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5_000),
    pieces=st.integers(min_value=1, max_value=5),
    coding=st.sampled_from(["gzip", "zstd"]),
)
def test_what_is_compressed_in_pieces_decodes_to_the_same_bytes(
    data: bytes, pieces: int, coding: str
) -> None:
    size = len(data) // pieces + 1
    parts = [data[at : at + size] for at in range(0, len(data), size)] or [b""]
    assert decoded(b"".join(compressed(parts, coding)), coding, len(data)) == data


def test_over_a_real_server_bodies_and_answers_travel_compressed(
    tmp_path: Path, data_dir: Path, model_dir: Path, portfolio: dict[str, pd.DataFrame]
) -> None:
    """uvicorn on 127.0.0.1: a gzip bulk write is stored; a batch of 3,000 comes back in
    slices after its announced length, as JSON or in zstd, the same scores either way."""
    data, tokens = _service_data(tmp_path, data_dir, erp=["erp"])
    customers = portfolio["customer"]["customer_id"].tolist()
    items = [{"customer_id": customers[i % len(customers)], "amount": 900.0 + i}
             for i in range(3_000)]  # fmt: skip
    invoices = [{**INVOICE, "invoice_id": f"WIRE-{i}"} for i in range(500)]
    bulk = gzip.compress(json.dumps({"items": invoices}).encode())
    answers = {}
    with (
        live_server(_settings(data, model_dir), tmp_path / "run") as server,
        server.client(tokens["erp"], timeout=WAIT_SECONDS) as http,
    ):
        stored = _sent(http, "PUT", "/v1/invoices", bulk, "gzip")
        assert stored.status_code == 201, stored.text
        assert stored.json()["added"] == 500
        for coding in ("identity", "zstd"):
            with http.stream("POST", "/v1/score/batch", json={"items": items},
                             headers={"Accept-Encoding": coding}) as response:  # fmt: skip
                raw = b"".join(response.iter_raw())
            assert response.status_code == 200
            assert response.headers.get("content-encoding", "identity") == coding
            assert int(response.headers["content-length"]) == len(raw)
            answers[coding] = (len(raw), json.loads(as_sent(coding, raw)))
    (plain_size, plain), (packed_size, packed) = answers["identity"], answers["zstd"]
    assert packed_size < plain_size / 5
    assert plain["count"] == packed["count"] == 3_000
    assert [r["subject"]["customer_id"] for r in plain["results"]] == [
        item["customer_id"] for item in items
    ]
    for mine, theirs in zip(plain["results"], packed["results"], strict=True):
        assert mine.pop("decision_id") != theirs.pop("decision_id")
        assert mine == theirs
