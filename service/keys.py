"""API keys: who may call the service, and for what.

A key is shown once, at creation (`crk_<key id>_<secret>`); the store keeps only its SHA-256,
which is enough for a random 256-bit secret (nothing to brute-force, unlike a password). Each key
holds one or more roles; a role grants permissions:

- sales: score, and read customer and company profiles;
- erp: score, and send invoices, payments and customers (ingestion);
- analyst: read profiles, the model (information, reload), the terms policy and the decision log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from features.errors import CreditRiskError
from features.held_connection import HeldConnection
from service.tables import api_key

__all__ = [
    "ROLES",
    "TOKEN_PREFIX",
    "ApiKey",
    "ApiKeys",
    "InvalidKeyRequest",
    "Permission",
]

TOKEN_PREFIX = "crk"


class Permission(StrEnum):
    SCORE = "score"
    READ = "read"
    INGEST = "ingest"
    MODEL = "model"
    POLICY = "policy"
    AUDIT = "audit"


ROLES: dict[str, frozenset[Permission]] = {
    "sales": frozenset({Permission.SCORE, Permission.READ}),
    "erp": frozenset({Permission.SCORE, Permission.INGEST}),
    "analyst": frozenset({Permission.READ, Permission.MODEL, Permission.POLICY, Permission.AUDIT}),
}


class InvalidKeyRequest(CreditRiskError, ValueError):
    """A key command with an unknown role, an empty name, or no key to act on."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its secret)."""

    key_id: str
    name: str
    roles: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return frozenset().union(*(ROLES[role] for role in self.roles if role in ROLES))

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key_id_of(token: str) -> str | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


# Built once: every request looks its key up, and building the statement cost more than
# running it. The digest of an active key is all a request reads (on a `HeldConnection`); the
# rest of a key never changes and is read once.
_KEY_BY_ID = sa.select(api_key).where(api_key.c.key_id == sa.bindparam("key_id"))
_ACTIVE_DIGEST = sa.select(api_key.c.token_sha256).where(
    api_key.c.key_id == sa.bindparam("key_id"), api_key.c.revoked_at.is_(None)
)


class ApiKeys:
    """Create, list, revoke and check API keys in the service's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held = HeldConnection(engine)
        self._known: dict[str, ApiKey] = {}  # keys authenticated once, by id (never revoked)

    def close(self) -> None:
        self._held.close()

    def create(self, name: str, roles: Iterable[str]) -> tuple[ApiKey, str]:
        """A new key and its token; the token is not stored and cannot be shown again."""
        wanted = tuple(dict.fromkeys(role.strip().lower() for role in roles))
        unknown = [role for role in wanted if role not in ROLES]
        if not name.strip():
            raise InvalidKeyRequest("give the key a name (who or what uses it)")
        if unknown or not wanted:
            raise InvalidKeyRequest(
                f"unknown role(s) {', '.join(unknown) or '(none given)'}: "
                f"choose among {', '.join(ROLES)}"
            )
        key = ApiKey(secrets.token_hex(6), name.strip(), wanted, datetime.now(UTC))
        token = f"{TOKEN_PREFIX}_{key.key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as connection:
            connection.execute(
                api_key.insert().values(
                    key_id=key.key_id,
                    name=key.name,
                    roles=",".join(key.roles),
                    token_sha256=_digest(token),
                    created_at=key.created_at,
                )
            )
        return key, token

    def authenticate(self, token: str | None) -> ApiKey | None:
        """The active key this token belongs to, or None (unknown, malformed or revoked)."""
        key_id = _key_id_of(token) if token else None
        if key_id is None or token is None:
            return None
        # Checked at every request, so that a revocation (by any process) holds at once.
        active = self._held.rows(_ACTIVE_DIGEST, {"key_id": key_id})
        if not active or not hmac.compare_digest(str(active[0][0]), _digest(token)):
            return None
        key = self._known.get(key_id)
        if key is None:
            with self.engine.connect() as connection:
                row = connection.execute(_KEY_BY_ID, {"key_id": key_id}).one_or_none()
            if row is None or row.revoked_at is not None:  # revoked meanwhile
                return None
            key = self._known[key_id] = _key(row)
        return key

    def listed(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(api_key).order_by(api_key.c.created_at, api_key.c.key_id)
        if not include_revoked:
            query = query.where(api_key.c.revoked_at.is_(None))
        with self.engine.connect() as connection:
            return [_key(row) for row in connection.execute(query)]

    def revoke(self, key_id_or_name: str) -> list[ApiKey]:
        """Revoke the active key with this id, or every active key with this name."""
        target = key_id_or_name.strip()
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            active = api_key.c.revoked_at.is_(None)
            matches = sa.or_(api_key.c.key_id == target, api_key.c.name == target)
            rows = connection.execute(sa.select(api_key).where(active, matches)).all()
            if not rows:
                raise InvalidKeyRequest(
                    f"no active key has the id or name {target!r} (see `credit-risk keys list`)"
                )
            ids = [row.key_id for row in rows]
            connection.execute(
                api_key.update().where(api_key.c.key_id.in_(ids)).values(revoked_at=now)
            )
        return [dataclasses.replace(_key(row), revoked_at=now) for row in rows]


def _key(row: sa.Row[tuple[object, ...]]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        key_id=str(m["key_id"]),
        name=str(m["name"]),
        roles=tuple(str(m["roles"]).split(",")),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )
