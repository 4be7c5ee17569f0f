"""The live company search client, against a real HTTP server on 127.0.0.1 that replays a script.

Waiting is injected (`sleep` records the delays instead of sleeping), so the retry schedule is
checked exactly and every test finishes in well under a second or two.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from features.errors import InvalidSiren
from features.importers.registry import company_search_frames, import_company_search_results
from features.ledger import LedgerStore
from features.registry_client import (
    CompanySearchClient,
    RegistryError,
    RegistryRequestRejected,
    RegistryUnavailable,
    retry_after_seconds,
)

SIREN = "402123459"
NOW = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)


def company(siren: str = SIREN, name: str = "BATIMAT DISTRIBUTION") -> dict[str, object]:
    return {
        "siren": siren,
        "nom_complet": name,
        "nom_raison_sociale": name,
        "nature_juridique": "5710",
        "activite_principale": "46.73A",
        "date_creation": "1995-06-12",
        "tranche_effectif_salarie": "12",
        "etat_administratif": "A",
        "date_fermeture": None,
        "siege": {"siret": f"{siren}00018", "code_postal": "69007"},
        "complements": {"est_entrepreneur_individuel": False, "est_rge": True},
        "finances": {"2022": {"ca": 9120777, "resultat_net": -35120}},
    }


def page(*results: dict[str, object]) -> dict[str, object]:
    return {
        "results": list(results),
        "total_results": len(results),
        "page": 1,
        "per_page": 10,
        "total_pages": 1,
    }


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, JSON body (or raw bytes), headers, and a delay before it."""

    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self) -> None:
        reply = self.server.next_reply(self.path)
        if reply.delay:
            self.server.release.wait(reply.delay)  # released at shutdown, never hangs a test
        raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test asserts on `requests` instead."""


class ScriptedServer(ThreadingHTTPServer):
    """Answers each request with the next scripted reply (500 once the script is exhausted)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Reply] = []
        self.requests: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_reply(self, path: str) -> Reply:
        with self._lock:
            self.requests.append(path)
            return self.script.pop(0) if self.script else Reply(500, {"erreur": "no script"})

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up on a slow answer closes its socket: expected, not an error."""


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    httpd = ScriptedServer()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(server: ScriptedServer, sleeps: list[float]) -> Iterator[CompanySearchClient]:
    with CompanySearchClient(
        server.url, timeout=2.0, sleep=sleeps.append, now=lambda: NOW
    ) as lookup:
        yield lookup


def query_of(path: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(path).query)


# ---- answers ----------------------------------------------------------------------------------


def test_search_returns_the_api_results(
    server: ScriptedServer, client: CompanySearchClient
) -> None:
    server.script = [Reply(body=page(company(), company("833105927", "ALPHA")))]

    results = client.search("batimat", page=2)

    assert [r["siren"] for r in results] == [SIREN, "833105927"]
    assert urlsplit(server.requests[0]).path == "/search"
    assert query_of(server.requests[0]) == {"q": ["batimat"], "page": ["2"]}


def test_by_siren_returns_the_matching_company_or_none(
    server: ScriptedServer, client: CompanySearchClient
) -> None:
    other = company("833105927", "ALPHA")
    server.script = [Reply(body=page(other, company())), Reply(body=page(other))]

    assert client.by_siren("402 123 459") == company()
    assert client.by_siren(SIREN) is None
    assert [query_of(p)["q"] for p in server.requests] == [[SIREN], [SIREN]]


def test_by_siren_checks_the_siren_before_any_request(
    server: ScriptedServer, client: CompanySearchClient
) -> None:
    with pytest.raises(InvalidSiren, match="Luhn"):
        client.by_siren("402123458")
    with pytest.raises(InvalidSiren, match="9"):
        client.by_siren("40212345900018")  # a SIRET is not silently truncated
    assert server.requests == []


def test_a_looked_up_company_lands_like_a_saved_file(
    server: ScriptedServer, client: CompanySearchClient, tmp_path: Path
) -> None:
    server.script = [Reply(body=page(company()))]
    result = client.by_siren(SIREN)
    assert result is not None
    store = LedgerStore.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        report = import_company_search_results(
            store, [result], f"lookup {SIREN}", today=date(2024, 5, 2)
        )
        again = import_company_search_results(
            store, [result], f"lookup {SIREN}", today=date(2024, 5, 2)
        )
        stored = store.read("financial_statement")
    finally:
        store.close()

    assert report.rows_added == {"company": 1, "financial_statement": 1}
    assert not again.changed
    frames = company_search_frames([result], "lookup", today=date(2024, 5, 2))
    assert frames["company"]["name"].tolist() == ["BATIMAT DISTRIBUTION"]
    assert stored["revenue"].tolist() == [9120777.0]
    assert str(stored["publication_date"].iloc[0].date()) == "2023-07-31"


# ---- 429 with Retry-After ---------------------------------------------------------------------


def test_429_waits_as_asked_in_seconds_and_as_an_http_date(
    server: ScriptedServer, client: CompanySearchClient, sleeps: list[float]
) -> None:
    in_seven_seconds = format_datetime(NOW + timedelta(seconds=7), usegmt=True)
    server.script = [
        Reply(429, {"erreur": "Trop de requêtes"}, {"Retry-After": "2"}),
        Reply(429, {"erreur": "Trop de requêtes"}, {"Retry-After": in_seven_seconds}),
        Reply(body=page(company())),
    ]

    assert [r["siren"] for r in client.search("batimat")] == [SIREN]
    assert sleeps == [2.0, 7.0]
    assert len(server.requests) == 3


def test_429_retry_after_is_capped(
    server: ScriptedServer, client: CompanySearchClient, sleeps: list[float]
) -> None:
    server.script = [Reply(429, {}, {"Retry-After": "3600"}), Reply(body=page())]
    assert client.search("batimat") == []
    assert sleeps == [30.0]


def test_429_without_a_readable_retry_after_backs_off(
    server: ScriptedServer, client: CompanySearchClient, sleeps: list[float]
) -> None:
    server.script = [Reply(429, {}), Reply(429, {}, {"Retry-After": "soon"}), Reply(body=page())]
    assert client.search("batimat") == []
    assert sleeps == [0.5, 1.0]


def test_429_forever_gives_up_after_bounded_retries(
    server: ScriptedServer, client: CompanySearchClient, sleeps: list[float]
) -> None:
    server.script = [Reply(429, {}, {"Retry-After": "1"})] * 10

    with pytest.raises(RegistryUnavailable, match="429 Too Many Requests; gave up after 4"):
        client.search("batimat")

    assert len(server.requests) == 4  # the first attempt and max_retries=3 more
    assert sleeps == [1.0, 1.0, 1.0]


# ---- 5xx and timeouts -------------------------------------------------------------------------


def test_500_then_200_recovers_after_one_backoff(
    server: ScriptedServer, client: CompanySearchClient, sleeps: list[float]
) -> None:
    server.script = [Reply(500, {"erreur": "boom"}), Reply(body=page(company()))]
    assert [r["siren"] for r in client.search("batimat")] == [SIREN]
    assert sleeps == [0.5]


def test_5xx_backoff_is_exponential_and_bounded(
    server: ScriptedServer, client: CompanySearchClient, sleeps: list[float]
) -> None:
    server.script = [Reply(503, {}), Reply(502, {}), Reply(500, {}), Reply(504, {})]

    with pytest.raises(RegistryUnavailable, match="answered HTTP 504; gave up after 4"):
        client.search("batimat")

    assert sleeps == [0.5, 1.0, 2.0]


def test_a_slow_registry_times_out_with_a_clear_error(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    server.script = [Reply(body=page(), delay=3.0)] * 2
    started = time.monotonic()

    lookup = CompanySearchClient(server.url, timeout=0.2, max_retries=1, sleep=sleeps.append)
    with lookup, pytest.raises(RegistryUnavailable, match=r"did not answer within 0\.2 s"):
        lookup.search("batimat")

    assert time.monotonic() - started < 2.0
    assert len(server.requests) == 2
    assert sleeps == [0.5]


def test_one_slow_answer_then_a_fast_one_recovers(
    server: ScriptedServer, sleeps: list[float]
) -> None:
    server.script = [Reply(body=page(), delay=3.0), Reply(body=page(company()))]
    with CompanySearchClient(server.url, timeout=0.2, sleep=sleeps.append) as lookup:
        assert [r["siren"] for r in lookup.search("batimat")] == [SIREN]
    assert sleeps == [0.5]


def test_an_unreachable_registry_is_unavailable(sleeps: list[float]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lookup = CompanySearchClient(
        f"http://127.0.0.1:{port}", timeout=1.0, max_retries=1, sleep=sleeps.append
    )
    with lookup, pytest.raises(RegistryUnavailable, match="could not be reached"):
        lookup.search("batimat")
    assert sleeps == [0.5]


# ---- refused requests and odd answers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"erreur": "Veuillez indiquer au moins 3 caractères."},
            "HTTP 400: Veuillez indiquer au moins 3 caractères.",
        ),
        (404, {"message": "Not found"}, "HTTP 404: Not found"),
        (403, b"<html>forbidden</html>", "HTTP 403"),
    ],
)
def test_4xx_is_refused_without_retrying(
    server: ScriptedServer,
    client: CompanySearchClient,
    sleeps: list[float],
    status: int,
    body: object,
    expected: str,
) -> None:
    server.script = [Reply(status, body)]

    with pytest.raises(RegistryRequestRejected, match=expected) as info:
        client.search("ab")

    assert server.url + "/search" in str(info.value)
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "body", [b"<html>maintenance</html>", {"total_results": 0}, {"results": [1, 2]}]
)
def test_an_answer_that_is_not_a_search_response_is_an_error(
    server: ScriptedServer, client: CompanySearchClient, body: object
) -> None:
    server.script = [Reply(200, body)]
    with pytest.raises(RegistryError, match=r"not JSON|without a list of results"):
        client.search("batimat")


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout"):
        CompanySearchClient(timeout=0)
    with pytest.raises(ValueError, match="max_retries"):
        CompanySearchClient(max_retries=-1)
    with CompanySearchClient() as lookup:
        with pytest.raises(ValueError, match="empty"):
            lookup.search("  ")
        with pytest.raises(ValueError, match="start at 1"):
            lookup.search("batimat", page=0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 12 ", 12.0),
        ("0", 0.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        (format_datetime(NOW + timedelta(minutes=2), usegmt=True), 120.0),
        (format_datetime(NOW - timedelta(minutes=2), usegmt=True), 0.0),
    ],
)
def test_retry_after_header_values(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds
