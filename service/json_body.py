"""A request's JSON body validated into a model, with the errors FastAPI would raise for it.

For the one endpoint that reads its body itself (`/v1/score`, see `service.api`): the same
checks as FastAPI's own body handling, in two steps because FastAPI checks the caller's key
between them, so that a caller gets the same answer whichever way the body was read:
- an empty body: the body is missing (422);
- a JSON content type (`application/json`, `application/...+json`): parsed with `json.loads`,
  and a body that is not JSON is `json_invalid` (400, see `service.errors`); a body that is not
  UTF-8, UTF-16 or UTF-32 could not be parsed at all (400);
- any other content type, or none: the raw bytes are validated, and refused as not an object;
- the model's errors, located under `body` (422 naming each field).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

__all__ = ["NO_BODY", "read_body", "validated"]

Model = TypeVar("Model", bound=BaseModel)
NO_BODY: Any = object()  # what `read_body` gives for an empty body (JSON `null` is None)


async def read_body(request: Request) -> Any:
    """The body parsed if it is JSON, its bytes if it is something else, NO_BODY if empty; a
    body that claims to be JSON and is not raises at once."""
    raw = await request.body()
    if not raw:
        return NO_BODY
    value: Any = raw
    if _is_json(request.headers.get("content-type")):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            problem = {
                "type": "json_invalid",
                "loc": ("body", error.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": error.msg},
            }
            raise RequestValidationError([problem], body=error.doc) from error
        except ValueError as error:  # not text in any encoding JSON allows
            raise HTTPException(400, "There was an error parsing the body") from error
    return value


def validated(model: type[Model], value: Any) -> Model:
    """A body `read_body` gave, as `model`, or the validation error naming each field."""
    if value is NO_BODY:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate(value, from_attributes=True)
    except ValidationError as error:
        problems = error.errors(include_url=False)
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in problems], body=value
        ) from None


def _is_json(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (parameters such as charset aside)."""
    if not content_type:
        return False
    kind, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
