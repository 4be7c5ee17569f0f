"""A response body sent as the pieces it was made of, compressed if the client asks.

A batch of 10,000 scores with their terms answers 31 MB of JSON, made a slice at a time. Joined
into one body, the answer was in memory twice, and three times while the socket's buffer held
what the client had not read yet (a worker's resident memory peaked 90 MB above its idle size).
Sent piece by piece, with its length announced first, it is never copied, and the server waits
for the client to read a piece before it writes the next.

Over a network those 31 MB matter more than the CPU to shrink them: a client that accepts
`zstd` gets 1.7 MB, made in about 0.03 s; one that accepts `gzip` (zlib's fastest level) 3 MB,
in about 0.1 s (RFC 9110 content codings, chosen by `Accept-Encoding`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence

import zstandard
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["CONTENT_CODINGS", "PiecesResponse", "content_coding"]

# The codings offered, the preferred first: zstd is smaller and three times as fast as gzip.
CONTENT_CODINGS = ("zstd", "gzip")


def content_coding(accept_encoding: str | None) -> str | None:
    """The coding to send for this `Accept-Encoding` header: of CONTENT_CODINGS, the one the
    client weighs highest (the preferred one on a tie), None for none (identity). A coding
    named with q=0 is refused; "*" stands for those not named; an entry that does not parse
    is ignored."""
    weights: dict[str, float] = {}
    for entry in (accept_encoding or "").split(","):
        name, _, parameters = entry.partition(";")
        weight = _weight(parameters)
        if weight is not None and name.strip():
            weights.setdefault(name.strip().lower(), weight)
    best: tuple[float, str] | None = None
    for coding in CONTENT_CODINGS:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, coding)
    return None if best is None else best[1]


def _weight(parameters: str) -> float | None:
    """The q-value of an entry's parameters (1 when absent), None if it does not parse."""
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return None
            return weight if 0.0 <= weight <= 1.0 else None
    return 1.0


class PiecesResponse(Response):
    """`pieces`, one after another, as one JSON body of their total length; compressed as
    one stream in `coding` ("zstd", "gzip") if one is given."""

    media_type = "application/json"

    def __init__(
        self,
        pieces: Sequence[bytes],
        background: BackgroundTask | None = None,
        coding: str | None = None,
    ) -> None:
        self._pieces = list(pieces) if coding is None else _compressed(pieces, coding)
        headers = {
            "content-length": str(sum(len(piece) for piece in self._pieces)),
            "vary": "Accept-Encoding",  # what a cache between must know
        }
        if coding is not None:
            headers["content-encoding"] = coding
        super().__init__(headers=headers, background=background)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        pieces, self._pieces = self._pieces or [b""], []
        last = len(pieces) - 1
        for at in range(len(pieces)):
            piece, pieces[at] = pieces[at], b""  # each piece freed once it is sent
            await send({"type": "http.response.body", "body": piece, "more_body": at < last})
        del piece
        if self.background is not None:
            await self.background()


def _compressed(pieces: Iterable[bytes], coding: str) -> list[bytes]:
    """The pieces compressed as one stream (each piece compressed as it comes; what they
    share is shared), a piece of output for each piece of input."""
    compress, flush = _stream(coding)
    out = [compress(piece) for piece in pieces]
    out.append(flush())
    return [piece for piece in out if piece]


def _stream(coding: str) -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
    if coding == "zstd":
        zstd = zstandard.ZstdCompressor().compressobj()  # its default level, 3
        return zstd.compress, zstd.flush
    if coding == "gzip":
        gzip = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: a gzip header
        return gzip.compress, gzip.flush
    raise ValueError(f"unknown content coding {coding!r}: one of {', '.join(CONTENT_CODINGS)}")
