"""Large textual responses are compressed for clients that accept it; small, binary, HEAD and
already coded ones pass as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service.compression import MIN_BYTES, ResponseCompression

from .conftest import TestClient, app_on_a_copy, as_sent, signed_in

ROWS = [{"decision": i, "grade": "ABCDE"[i % 5], "reason": f"retard moyen de {i} jours"}
        for i in range(1_000)]  # fmt: skip
LARGE = b"\x89PNG" + bytes(range(256)) * 200  # a binary body of 51 KB


def _compact(rows: list[dict[str, object]]) -> bytes:
    """The JSON a JSONResponse writes."""
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()


class _InPieces:
    """A textual response of announced length sent in three pieces, as a file is (an ASGI
    app)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps(ROWS).encode()
        third = len(body) // 3
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in (0, third, 2 * third):
            end = start + third if start < 2 * third else len(body)
            await send({"type": "http.response.body", "body": body[start:end],
                        "more_body": end < len(body)})  # fmt: skip


def _app() -> Starlette:
    def rows(_request: Request) -> JSONResponse:
        return JSONResponse(ROWS)

    def page(_request: Request) -> HTMLResponse:
        cells = "".join(f"<tr><td>{r['decision']}</td><td>{r['grade']}</td></tr>" for r in ROWS)
        return HTMLResponse(f"<table>{cells}</table>", headers={"Vary": "Cookie"})

    routes = [
        Route("/rows", rows),
        Route("/page", page),
        Route("/small", lambda _r: JSONResponse(ROWS[:10])),
        Route("/plot", lambda _r: Response(LARGE, media_type="image/png")),
        Route(
            "/coded",
            lambda _r: Response(
                LARGE, media_type="application/json", headers={"Content-Encoding": "zstd"}
            ),
        ),
        Route("/pieces", _InPieces()),
    ]
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def http() -> TestClient:
    return TestClient(ResponseCompression(_app()))


def _raw(http: TestClient, path: str, accepted: str, method: str = "GET") -> tuple[bytes, dict]:
    with http.stream(method, path, headers={"Accept-Encoding": accepted}) as response:
        assert response.status_code == 200
        return b"".join(response.iter_raw()), dict(response.headers)


@pytest.mark.parametrize("coding", ["zstd", "gzip"])
def test_a_large_json_answer_is_compressed_with_its_length(http: TestClient, coding: str) -> None:
    plain, plain_headers = _raw(http, "/rows", "identity")
    assert "content-encoding" not in plain_headers
    assert plain_headers["vary"] == "Accept-Encoding"
    assert int(plain_headers["content-length"]) == len(plain) >= MIN_BYTES
    packed, headers = _raw(http, "/rows", f"br;q=1, {coding};q=0.9")
    assert headers["content-encoding"] == coding
    assert headers["vary"] == "Accept-Encoding"
    assert int(headers["content-length"]) == len(packed) < len(plain) / 5
    assert as_sent(coding, packed) == plain


def test_a_page_keeps_what_it_varies_by(http: TestClient) -> None:
    packed, headers = _raw(http, "/page", "gzip")
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Cookie, Accept-Encoding"
    assert as_sent("gzip", packed).startswith(b"<table><tr><td>0</td>")


@pytest.mark.parametrize("path", ["/small", "/plot", "/coded"])
def test_small_binary_and_coded_answers_pass_as_they_are(http: TestClient, path: str) -> None:
    sent, headers = _raw(http, path, "zstd, gzip")
    assert sent == {"/small": _compact(ROWS[:10]), "/plot": LARGE, "/coded": LARGE}[path]
    assert headers.get("content-encoding") == ("zstd" if path == "/coded" else None)
    assert "accept-encoding" not in headers.get("vary", "").lower()


def test_a_head_request_gets_the_plain_length(http: TestClient) -> None:
    with http.stream("HEAD", "/rows", headers={"Accept-Encoding": "zstd"}) as response:
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == len(_compact(ROWS))


def test_an_answer_in_pieces_is_compressed_as_one_stream(http: TestClient) -> None:
    packed, headers = _raw(http, "/pieces", "zstd")
    assert headers["content-encoding"] == "zstd"
    assert "content-length" not in headers  # sent chunked: its coded length is not known
    assert json.loads(as_sent("zstd", packed)) == ROWS


def test_a_list_of_decisions_travels_compressed(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    app = app_on_a_copy(tmp_path, data_dir, model_dir)
    with signed_in(app) as client:
        items = [{"customer_id": f"C{i % 40 + 1:05d}", "amount": 1000.0 + i} for i in range(300)]
        assert client.post("/v1/score/batch", json={"items": items}).status_code == 200
        listed = {}
        for coding in ("identity", "zstd"):
            with client.stream("GET", "/v1/decisions", params={"limit": 300},
                               headers={"Accept-Encoding": coding}) as response:  # fmt: skip
                raw = b"".join(response.iter_raw())
            assert response.headers.get("content-encoding", "identity") == coding
            listed[coding] = (len(raw), as_sent(coding, raw))
        single = client.post("/v1/score", json={"customer_id": "C00001"},
                             headers={"Accept-Encoding": "zstd"})  # fmt: skip
    assert listed["zstd"][0] < listed["identity"][0] / 5
    assert json.loads(listed["zstd"][1]) == json.loads(listed["identity"][1])
    assert json.loads(listed["identity"][1])["count"] == 300
    assert "content-encoding" not in single.headers  # a score is a few kilobytes
