"""Who is signed in to the web pages (an API key in a cookie) and in which language.

The key travels in an HttpOnly, SameSite=Strict cookie: scripts cannot read it and other sites
cannot make the browser send it. Each request checks it again, so a revoked key is signed out
at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from service.keys import ROLES, ApiKey, ApiKeys, Permission
from service.web.i18n import Language, Translator, language_of

__all__ = [
    "KEY_COOKIE",
    "LANG_COOKIE",
    "Forbidden",
    "Page",
    "PageDep",
    "SignInRequired",
    "current_page",
]

KEY_COOKIE = "credit_risk_key"
LANG_COOKIE = "lang"


class SignInRequired(Exception):
    """No valid key: the page sends the browser to the sign-in page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """The key's roles do not allow the page."""

    def __init__(self, page: Page, permission: Permission) -> None:
        super().__init__(permission)
        self.page = page
        self.permission = permission


@dataclass(frozen=True)
class Page:
    """The request's language and signed-in key, handed to every template."""

    request: Request
    language: Language
    key: ApiKey | None

    @property
    def t(self) -> Translator:
        return Translator(self.language)

    def may(self, permission: Permission) -> bool:
        return self.key is not None and self.key.may(permission)

    def require(self, permission: Permission) -> ApiKey:
        if self.key is None:
            raise SignInRequired(self.request.url.path)
        if not self.key.may(permission):
            raise Forbidden(self, permission)
        return self.key

    def roles_granting(self, permission: Permission) -> str:
        return " / ".join(role for role, granted in ROLES.items() if permission in granted)

    def switch_language_url(self) -> str:
        query = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        query.append(("lang", Translator(self.language).other))
        encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
        return f"{self.request.url.path}?{encoded}"


def _language(request: Request) -> Language:
    return language_of(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def current_page(request: Request) -> Page:
    keys: ApiKeys = request.app.state.service.keys
    token = request.cookies.get(KEY_COOKIE)
    key = keys.authenticate(token) if token else None
    return Page(request, _language(request), key)


PageDep = Annotated[Page, Depends(current_page)]
