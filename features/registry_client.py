"""Optional live lookups in the public company search API (recherche-entreprises.api.gouv.fr).

The API is free and rate limited per caller, and sometimes slow or down. This client retries
what may pass (timeouts, connection errors, 429 after the delay the server asks for, 5xx with
exponential backoff) a bounded number of times, then raises `RegistryUnavailable`; a refused
request (other 4xx) is not retried. Its results are the API's own result objects, which
`features.importers.registry.import_company_search_results` turns into canonical rows exactly
as it does a saved response file.

Time is injected (`sleep`, `now`) and so is the HTTP transport, so tests need not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from features.errors import CreditRiskError
from features.siren import normalize_siren

__all__ = [
    "DEFAULT_BASE_URL",
    "CompanySearchClient",
    "RegistryError",
    "RegistryRequestRejected",
    "RegistryUnavailable",
    "retry_after_seconds",
]

DEFAULT_BASE_URL = "https://recherche-entreprises.api.gouv.fr"
USER_AGENT = "credit-risk/0.1 (company registry lookup)"


class RegistryError(CreditRiskError):
    """The company registry lookup failed; the subclasses say whether retrying later helps."""


class RegistryUnavailable(RegistryError):
    """The registry timed out, could not be reached, or kept failing after bounded retries."""


class RegistryRequestRejected(RegistryError):
    """The registry refused the request itself (a 4xx other than 429): retrying will not help."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The delay a Retry-After header asks for (seconds or an HTTP date), None if unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are GMT
    return max(0.0, (when - now).total_seconds())


class CompanySearchClient:
    """Search companies by name or SIREN in the public company search API.

    max_retries: further attempts after the first, for failures that may pass.
    max_retry_after: the longest wait a 429's Retry-After may impose, in seconds; a server
    asking for more is obeyed only up to this, so one lookup stays bounded in time.
    backoff: the first wait after a 5xx or a timeout, doubled at each further attempt.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 5.0,
        max_retries: int = 3,
        max_retry_after: float = 30.0,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}")
        if max_retry_after < 0 or backoff < 0:
            raise ValueError("max_retry_after and backoff must not be negative")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.backoff = backoff
        self._sleep = sleep
        self._now = now
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CompanySearchClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def search(self, query: str, page: int = 1) -> list[dict[str, Any]]:
        """One page of results for a name, an address or a SIREN, in the API's own shape."""
        if not query.strip():
            raise ValueError("the search query is empty")
        if page < 1:
            raise ValueError(f"page numbers start at 1, got {page}")
        body = self._get_json("/search", {"q": query.strip(), "page": page})
        return _results(body, self._url("/search"))

    def by_siren(self, siren: object) -> dict[str, Any] | None:
        """The company with this SIREN, or None when the registry does not know it.

        The SIREN is checked first (InvalidSiren), so a typo costs no request.
        """
        number = normalize_siren(siren)
        for result in self.search(number):
            if str(result.get("siren", "")).replace(" ", "") == number:
                return result
        return None

    # ---- one request, retried -----------------------------------------------------------

    def _get_json(self, path: str, params: Mapping[str, str | int]) -> object:
        failure, wait = "", 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep(wait)
            try:
                response = self._http.get(path, params=params)
            except httpx.TimeoutException:
                failure, wait = f"did not answer within {self.timeout:g} s", self._delay(attempt)
                continue
            except httpx.TransportError as error:
                failure = f"could not be reached ({type(error).__name__}: {error})"
                wait = self._delay(attempt)
                continue
            if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
                failure = "kept answering 429 Too Many Requests"
                wait = self._retry_after(response, attempt)
                continue
            if response.status_code >= 500:
                failure, wait = f"answered HTTP {response.status_code}", self._delay(attempt)
                continue
            return _json_body(response)
        raise RegistryUnavailable(
            f"the company registry at {self._url(path)} {failure}; gave up after "
            f"{self.max_retries + 1} attempt(s), try again later"
        )

    def _delay(self, attempt: int) -> float:
        """Exponential backoff: give a struggling server room, but never wait unboundedly."""
        return min(self.backoff * 2**attempt, self.max_retry_after)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        asked = retry_after_seconds(response.headers.get("Retry-After"), self._now())
        if asked is None:
            return self._delay(attempt)
        return min(asked, self.max_retry_after)

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def _json_body(response: httpx.Response) -> object:
    url = str(response.request.url.copy_with(query=None))
    if 400 <= response.status_code < 500:
        raise RegistryRequestRejected(
            f"the company registry refused the request to {url} with HTTP "
            f"{response.status_code}{_api_message(response)}"
        )
    if not response.is_success:
        raise RegistryError(f"the company registry answered HTTP {response.status_code} at {url}")
    try:
        return response.json()
    except ValueError:
        raise RegistryError(f"the company registry answered {url} with something that is not "
                            f"JSON: {response.text[:80]!r}") from None  # fmt: skip


def _api_message(response: httpx.Response) -> str:
    """The API's own explanation ({"erreur": "..."}), when it gives one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = (body.get("erreur") or body.get("message")) if isinstance(body, dict) else None
    return f": {message}" if isinstance(message, str) and message else ""


def _results(body: object, url: str) -> list[dict[str, Any]]:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise RegistryError(f"the company registry answered {url} without a list of results")
    return results
