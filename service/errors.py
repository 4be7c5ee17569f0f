"""The service's domain errors and the one place where every error becomes an HTTP answer.

Routes and the scorer raise domain errors (here and in `features.errors`); they never build
HTTP responses themselves. Every error answer has the same JSON shape:

    {"error": "invalid_request", "message": "...", "fields": [{"field": "siren", "reason": "..."}]}

Bad input is always a 4xx naming the field: a 5xx means a bug or a part of the system down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from features.errors import (
    ConflictingRecord,
    CreditRiskError,
    ImportRejected,
    InvalidSiren,
    StoreError,
)
from features.scoring_model import InvalidModelBundle

__all__ = [
    "BatchTooLarge",
    "ErrorBody",
    "FieldProblem",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidField",
    "ModelNotReady",
    "ModelReloadRefused",
    "NotAuthenticated",
    "NotFound",
    "RequestConflict",
    "RequestRejected",
    "UnknownCompany",
    "UnknownCustomer",
    "field_name",
    "install_error_handlers",
]


class UnknownCustomer(CreditRiskError, LookupError):
    """A customer id that the ledger does not hold."""

    def __init__(self, customer_id: str, field: str = "customer_id") -> None:
        self.customer_id = customer_id
        self.field = field
        super().__init__(f"no customer with id {customer_id!r} in the ledger")


class UnknownCompany(CreditRiskError, LookupError):
    """A SIREN that is neither a customer's nor in the company registry data."""

    def __init__(self, siren: str, field: str = "siren") -> None:
        self.siren = siren
        self.field = field
        super().__init__(
            f"no company with SIREN {siren} in the ledger; to score a prospect the service does "
            "not know, send its company data inline (`company`)"
        )


class NotFound(CreditRiskError, LookupError):
    """Something the request names that the service does not hold (a decision id, a policy)."""


class InvalidField(CreditRiskError, ValueError):
    """A request field that is well-formed but not acceptable (e.g. a date in the future)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class BatchTooLarge(CreditRiskError):
    """A batch with more items than the service accepts in one request."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(
            f"the batch holds {count} items; at most {limit} are accepted per request, "
            "split it into several requests"
        )


class NotAuthenticated(CreditRiskError):
    """No usable API key on the request (401)."""


class Forbidden(CreditRiskError):
    """A valid API key whose roles do not grant what the endpoint needs (403)."""


class RequestRejected(ImportRejected):
    """A write request refused as a whole; its problems name request fields."""

    def __str__(self) -> str:
        listed = "; ".join(f"{p.field}: {p.reason}" for p in self.problems[: self.max_listed])
        more = self.total - min(len(self.problems), self.max_listed)
        return f"the request was refused, nothing was written: {listed}" + (
            f" (and {more} more)" if more > 0 else ""
        )


class RequestConflict(RequestRejected, ConflictingRecord):
    """A write request refused because an id is stored with other contents (409)."""


class IdempotencyKeyReused(CreditRiskError):
    """An Idempotency-Key already used for another request body or endpoint."""

    def __init__(self, key: str, endpoint: str) -> None:
        self.key = key
        super().__init__(
            f"the Idempotency-Key {key!r} was already used for another request ({endpoint}); "
            "use a new key for a new request"
        )


class ModelNotReady(CreditRiskError):
    """No model has been loaded yet (or every load so far failed)."""


class ModelReloadRefused(CreditRiskError):
    """A new model failed its checks; the previous model keeps serving."""


class FieldProblem(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """What every error answer holds (documented in the OpenAPI schema)."""

    error: str
    message: str
    fields: list[FieldProblem] = []


# Most specific first: the first class an error is an instance of decides the answer.
_STATUS: tuple[tuple[type[CreditRiskError], int, str], ...] = (
    (InvalidSiren, 422, "invalid_siren"),
    (InvalidField, 422, "invalid_field"),
    (UnknownCustomer, 404, "unknown_customer"),
    (UnknownCompany, 404, "unknown_company"),
    (NotFound, 404, "not_found"),
    (BatchTooLarge, 413, "batch_too_large"),
    (ConflictingRecord, 409, "conflicting_record"),
    (IdempotencyKeyReused, 422, "idempotency_key_reused"),
    (ImportRejected, 422, "import_rejected"),
    (NotAuthenticated, 401, "not_authenticated"),
    (Forbidden, 403, "forbidden"),
    (ModelNotReady, 503, "model_not_ready"),
    # The request was fine; the candidate model was not, and nothing changed.
    (ModelReloadRefused, 409, "model_reload_refused"),
    (InvalidModelBundle, 409, "model_reload_refused"),
    (StoreError, 503, "store_unavailable"),
)


def _fields_of(error: CreditRiskError) -> list[FieldProblem]:
    if isinstance(error, InvalidSiren):
        return [FieldProblem(field=getattr(error, "field", "siren"), reason=str(error))]
    if isinstance(error, InvalidField):
        return [FieldProblem(field=error.field, reason=error.reason)]
    if isinstance(error, UnknownCustomer | UnknownCompany):
        return [FieldProblem(field=error.field, reason=str(error))]
    if isinstance(error, IdempotencyKeyReused):
        return [FieldProblem(field="Idempotency-Key", reason=str(error))]
    if isinstance(error, BatchTooLarge):
        return [FieldProblem(field="items", reason=str(error))]
    if isinstance(error, ImportRejected):
        if isinstance(error, RequestRejected):
            return [FieldProblem(field=p.field, reason=p.reason) for p in error.problems]
        return [FieldProblem(field=p.field, reason=str(p)) for p in error.problems]
    return []


def error_response(
    status: int, code: str, message: str, fields: Sequence[FieldProblem] = ()
) -> JSONResponse:
    body = ErrorBody(error=code, message=message, fields=list(fields))
    return JSONResponse(status_code=status, content=body.model_dump())


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, CreditRiskError)
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            response = error_response(status, code, str(error), _fields_of(error))
            if status == 401:
                response.headers["WWW-Authenticate"] = "ApiKey"
            return response
    return error_response(500, "internal_error", str(error))


def field_name(location: Sequence[str | int]) -> str:
    """A pydantic error location as a person writes it: ("body", "items", 3, "amount") ->
    "items[3].amount"."""
    parts = list(location)
    if parts and parts[0] in {"body", "path", "query", "header"}:
        parts = parts[1:]
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _reason(problem: dict[str, Any]) -> str:
    if problem.get("type") == "extra_forbidden":
        return "unknown field: this endpoint does not accept it"
    message = str(problem.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(
            400, "invalid_json", "the request body is not valid JSON (send application/json)"
        )
    fields = [FieldProblem(field=field_name(p.get("loc", ())), reason=_reason(p)) for p in problems]
    named = ", ".join(dict.fromkeys(f.field for f in fields))
    return error_response(422, "invalid_request", f"invalid request: check {named}", fields)


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    """Framework answers (unknown route 404, wrong method 405) in the same shape as ours."""
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    response = error_response(error.status_code, code, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors and request-validation errors to HTTP answers, for this app only."""
    app.add_exception_handler(CreditRiskError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
