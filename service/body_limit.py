"""Refuse request bodies above a size limit with 413, before anything parses them; decode a
body sent compressed, within the same limit."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.content_coding import (
    CONTENT_CODINGS,
    CodingTooLarge,
    CodingUnknown,
    CodingUnreadable,
    decoded,
)

__all__ = ["BodySizeLimit"]


class BodySizeLimit:
    """ASGI middleware: a body larger than `max_bytes` gets 413 and never reaches a route.

    The declared Content-Length is checked first; a body sent without one (chunked) is read up
    to the limit and replayed to the app, so memory stays bounded either way. A body with a
    `Content-Encoding` (zstd, gzip) is replayed decoded, as if sent so: a decoded size above the
    limit is a 413 too, a coding not offered a 415, a body that does not decode a 400.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        coding = headers.get(b"content-encoding", b"").decode("latin-1").strip()
        if body and coding and coding.lower() != "identity":
            try:  # megabytes to decode: on a thread, not the event loop's
                body = await run_in_threadpool(decoded, body, coding, self.max_bytes)
            except CodingTooLarge:
                await self._too_large(send, decoded=True)
                return
            except CodingUnknown as unknown:
                offered = ", ".join(CONTENT_CODINGS)
                await _refuse(
                    send, 415, "content_encoding_unsupported",
                    f"the body's Content-Encoding {unknown} is not read here: send it as it is, "
                    f"or in {offered}",
                    f"one of {offered}, or none", [(b"accept-encoding", offered.encode())],
                )  # fmt: skip
                return
            except CodingUnreadable as unreadable:
                await _refuse(
                    send, 400, "body_not_decodable",
                    f"the body does not decode as its Content-Encoding {coding} says: "
                    f"{unreadable}",
                    f"a complete {coding} stream", [],
                )  # fmt: skip
                return
            # The app sees the body as if it had been sent as it is.
            scope = {
                **scope,
                "headers": [
                    *(pair for pair in scope["headers"]
                      if pair[0] not in (b"content-encoding", b"content-length")),
                    (b"content-length", str(len(body)).encode()),
                ],
            }  # fmt: skip
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, *, decoded: bool = False) -> None:
        what = "decoded request body" if decoded else "request body"
        await _refuse(
            send, 413, "body_too_large", f"the {what} is larger than {self.max_bytes} bytes",
            f"at most {self.max_bytes} bytes", [],
        )  # fmt: skip


async def _refuse(
    send: Send,
    status: int,
    error: str,
    message: str,
    reason: str,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """An error answer in the service's shape, naming the body."""
    content = json.dumps(
        {"error": error, "message": message, "fields": [{"field": "body", "reason": reason}]}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
