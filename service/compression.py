"""Responses compressed for clients that accept it: decision lists, web pages, the API's
documentation.

An analyst's list of 1,000 decisions is 3.5 MB of JSON, a portfolio page hundreds of kilobytes
of HTML: sent over a company's VPN, their size is what the user waits for. A response of a
textual type and at least `min_bytes` long is sent in the coding the client's `Accept-Encoding`
prefers (zstd, else gzip; `service.content_coding`). Small answers (a score is 3 KB), binary
ones (the model card's plots), answers to HEAD and answers already coded (a batch compresses
its own, as it makes it) pass as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.content_coding import compressed, compressor, content_coding

__all__ = ["MIN_BYTES", "ResponseCompression"]

MIN_BYTES = 16 * 1024  # below, the header costs more than the bytes saved
_TEXTUAL = ("text/", "application/json", "application/javascript", "image/svg+xml")
_IN_A_THREAD = 1024 * 1024  # a body this large is compressed off the event loop


class ResponseCompression:
    """ASGI middleware: large textual responses in the coding the client accepts."""

    def __init__(self, app: ASGIApp, min_bytes: int = MIN_BYTES) -> None:
        self.app = app
        self.min_bytes = min_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _Reply(scope, send, self.min_bytes).send)


class _Reply:
    """One response on its way: its start held until its first body piece, if compressed."""

    def __init__(self, scope: Scope, send: Send, min_bytes: int) -> None:
        self._scope = scope
        self._send = send
        self._min_bytes = min_bytes
        self._start: tuple[Message, str] | None = None  # held, to be sent in this coding
        self._compress: Callable[[bytes], bytes] | None = None  # a response in pieces
        self._flush: Callable[[], bytes] = bytes

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            await self._started(message)
        elif message["type"] == "http.response.body" and self._start is not None:
            await self._first_piece(message, self._start)
        elif message["type"] == "http.response.body" and self._compress is not None:
            more = bool(message.get("more_body", False))
            piece = self._compress(message.get("body", b""))
            if not more:
                piece += self._flush()
            await self._send({"type": "http.response.body", "body": piece, "more_body": more})
        else:
            await self._send(message)

    async def _started(self, message: Message) -> None:
        headers = list(message.get("headers", []))
        fields = {name.lower(): value for name, value in headers}
        declared = fields.get(b"content-length", b"")
        kind = fields.get(b"content-type", b"").decode("latin-1").lower()
        eligible = (
            b"content-encoding" not in fields
            and declared.isdigit()
            and int(declared) >= self._min_bytes
            and kind.startswith(_TEXTUAL)
        )
        if not eligible:
            await self._send(message)
            return
        headers = _varied(headers)
        # ASGI servers give request header names in lower case.
        accepted = [v for n, v in self._scope["headers"] if n == b"accept-encoding"]
        coding = content_coding(b",".join(accepted).decode("latin-1"))
        if coding is None:  # the client takes it as it is
            await self._send({**message, "headers": headers})
            return
        coded = [(n, v) for n, v in headers if n.lower() != b"content-length"]
        self._start = ({**message, "headers": [*coded, (b"content-encoding", coding.encode())]},
                       coding)  # fmt: skip

    async def _first_piece(self, message: Message, held: tuple[Message, str]) -> None:
        self._start = None
        start, coding = held
        body = message.get("body", b"")
        if not message.get("more_body", False):  # the whole body: sent with its length
            if len(body) >= _IN_A_THREAD:
                pieces = await run_in_threadpool(compressed, [body], coding)
            else:
                pieces = compressed([body], coding)
            packed = b"".join(pieces)
            headers = [*start["headers"], (b"content-length", str(len(packed)).encode())]
            await self._send({**start, "headers": headers})
            await self._send({"type": "http.response.body", "body": packed, "more_body": False})
            return
        # In pieces (a file read a chunk at a time): one stream, sent chunked.
        self._compress, self._flush = compressor(coding)
        await self._send(start)
        await self.send(message)


def _varied(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers with Accept-Encoding among those the response varies by."""
    for at, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            if b"accept-encoding" in value.lower() or value.strip() == b"*":
                return headers
            return [*headers[:at], (name, value + b", Accept-Encoding"), *headers[at + 1 :]]
    return [*headers, (b"vary", b"Accept-Encoding")]
