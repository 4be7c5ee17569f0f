"""A batch's answer is sent a slice at a time, never joined into one body, and compressed when
the client accepts zstd or gzip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.auth import API_KEY_HEADER
from service.content_coding import content_coding
from service.pieces import PiecesResponse

from .conftest import TestClient, app_on_a_copy, as_sent

_Sent = list[tuple[str, int, bool]]  # each message: its type, body length, more_body


def _watched(app: ASGIApp, sent: _Sent) -> ASGIApp:
    """The app, every message it sends noted in `sent`."""

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        async def noted(message: Message) -> None:
            sent.append(
                (message["type"], len(message.get("body", b"")), message.get("more_body", False))
            )
            await send(message)

        await app(scope, receive, noted)

    return watched


def test_the_pieces_are_one_body_of_their_length_then_the_background_runs() -> None:
    sent: _Sent = []

    def after() -> None:
        sent.append(("background", 0, False))

    def answer(_request: object) -> PiecesResponse:
        return PiecesResponse(
            [b'{"results":[', b'{"a":1}', b',{"a":2}', b"]}"], BackgroundTask(after)
        )

    def nothing(_request: object) -> PiecesResponse:
        return PiecesResponse([])

    app = Starlette(routes=[Route("/answer", answer), Route("/nothing", nothing)])
    with TestClient(_watched(app, sent)) as http:
        sent.clear()  # the start of the app's lifespan
        response = http.get("/answer")
        assert response.json() == {"results": [{"a": 1}, {"a": 2}]}
        assert response.headers["content-length"] == str(len(response.content)) == "29"
        assert response.headers["content-type"] == "application/json"
        body = [(kind, size, more) for kind, size, more in sent if kind != "http.response.start"]
        assert body == [
            ("http.response.body", 12, True),
            ("http.response.body", 7, True),
            ("http.response.body", 8, True),
            ("http.response.body", 2, False),
            ("background", 0, False),
        ]
        sent.clear()
        empty = http.get("/nothing")
        assert (empty.content, empty.headers["content-length"]) == (b"", "0")
        assert [kind for kind, *_ in sent] == ["http.response.start", "http.response.body"]


def test_a_large_batch_is_sent_a_slice_at_a_time(
    tmp_path: Path, data_dir: Path, model_dir: Path, portfolio: dict[str, pd.DataFrame]
) -> None:
    app = app_on_a_copy(tmp_path, data_dir, model_dir)
    customers = portfolio["customer"]["customer_id"].tolist()
    items = [{"customer_id": customers[i % len(customers)]} for i in range(2_500)]
    sent: _Sent = []
    with TestClient(_watched(app, sent)) as http:
        _, token = app.state.service.keys.create("erp", ["erp"])
        sent.clear()
        response = http.post(
            "/v1/score/batch",
            json={"items": items},
            headers={API_KEY_HEADER: token, "Accept-Encoding": "identity"},
        )
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(response.content))
    answer = json.loads(response.content)
    assert answer["count"] == len(answer["results"]) == 2_500
    assert [r["subject"]["customer_id"] for r in answer["results"]] == [
        item["customer_id"] for item in items
    ]
    assert all(r["terms"]["grade"] == r["grade"] for r in answer["results"])
    bodies = [(size, more) for kind, size, more in sent if kind == "http.response.body"]
    # The head, a piece per slice of 1,000 answers, the tail: none holds the whole answer.
    assert len(bodies) == 5
    assert [more for _, more in bodies] == [True, True, True, True, False]
    assert max(size for size, _ in bodies) < len(response.content) / 2
    assert sum(size for size, _ in bodies) == len(response.content)


@pytest.mark.parametrize(
    ("accepted", "coding"),
    [
        (None, None),
        ("", None),
        ("identity", None),
        ("br, deflate", None),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("zstd", "zstd"),
        ("gzip, deflate, zstd", "zstd"),  # a tie: the preferred one
        ("gzip;q=1, zstd;q=0.5", "gzip"),
        (" zstd ; q=0.8 , gzip ; Q = 0.9", "gzip"),
        ("zstd;q=0", None),
        ("zstd;q=0, gzip", "gzip"),
        ("*", "zstd"),
        ("*;q=0", None),
        ("*, zstd;q=0", "gzip"),
        ("gzip;q=abc", None),  # an entry that does not parse is ignored
        ("gzip;q=2, zstd;q=-1", None),
        ("gzip;level=9", "gzip"),
        (";q=1, ,,", None),
    ],
)
def test_the_coding_follows_accept_encoding(accepted: str | None, coding: str | None) -> None:
    assert content_coding(accepted) == coding


@pytest.mark.parametrize("coding", ["zstd", "gzip"])
def test_a_batch_answer_is_compressed_for_a_client_that_accepts_it(
    client: TestClient, coding: str, portfolio: dict[str, pd.DataFrame]
) -> None:
    customers = portfolio["customer"]["customer_id"].tolist()
    items = [
        {"customer_id": customers[i % len(customers)], "amount": 1_000.0 + i} for i in range(50)
    ]
    plain = client.post(
        "/v1/score/batch", json={"items": items}, headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    with client.stream(
        "POST",
        "/v1/score/batch",
        json={"items": items},
        headers={"Accept-Encoding": f"br, {coding}"},
    ) as packed:
        raw = b"".join(packed.iter_raw())  # as sent, not decoded
    assert packed.status_code == 200
    assert packed.headers["content-encoding"] == coding
    assert packed.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) == len(raw) < len(plain.content) / 5
    answer, expected = json.loads(as_sent(coding, raw)), plain.json()
    assert answer["count"] == expected["count"] == 50
    for mine, theirs in zip(answer["results"], expected["results"], strict=True):
        assert mine.pop("decision_id") != theirs.pop("decision_id")  # each score is a decision
        assert mine == theirs
