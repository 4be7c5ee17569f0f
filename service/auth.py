"""Who is calling: the API key in `X-API-Key` (or `Authorization: Bearer`), and what it may do.

A missing, malformed, unknown or revoked key is a 401; a valid key without the permission an
endpoint needs is a 403 naming the roles that grant it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.errors import Forbidden, NotAuthenticated
from service.keys import ROLES, ApiKey, ApiKeys, Permission

__all__ = ["API_KEY_HEADER", "Caller", "authenticated", "require"]

API_KEY_HEADER = "X-API-Key"

_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="An API key from `credit-risk keys create` (roles: sales, erp, analyst).",
)
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.service.keys
    return keys


async def authenticated(
    request: Request,
    header: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> ApiKey:
    """The caller's active key, or NotAuthenticated saying what to send."""
    token = header or (bearer.credentials if bearer is not None else None)
    if not token:
        raise NotAuthenticated(
            f"send an API key in the {API_KEY_HEADER} header "
            "(create one with `credit-risk keys create`)"
        )
    key = _keys(request).authenticate(token)
    if key is None:
        raise NotAuthenticated("the API key is unknown or was revoked")
    return key


Caller = Annotated[ApiKey, Depends(authenticated)]


def require(permission: Permission) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A dependency admitting callers whose roles grant `permission`."""

    async def check(caller: Caller) -> ApiKey:
        if not caller.may(permission):
            granting = [role for role, granted in ROLES.items() if permission in granted]
            raise Forbidden(
                f"the key {caller.name!r} (roles: {', '.join(caller.roles)}) may not {permission}; "
                f"a key with the role {' or '.join(granting)} may"
            )
        return caller

    return check
