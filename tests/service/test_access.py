"""API keys: 401 without a usable key, 403 without the role, hashed storage, the keys command."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app as cli_app
from service.app import create_app
from service.auth import API_KEY_HEADER
from tests.conftest import copy_database

from .conftest import TODAY, app_on_a_copy, service_settings, signed_in

SCORE = ("post", "/v1/score", {"customer_id": "C00001"})
READ = ("get", "/v1/customers/C00001", None)
INGEST = ("put", "/v1/customers/C99999", {"name": "Nouveau client"})
MODEL = ("get", "/v1/model", None)
POLICY = ("get", "/v1/policy", None)
AUDIT = ("get", "/v1/decisions", None)
ALL = {"score": SCORE, "read": READ, "ingest": INGEST, "model": MODEL, "policy": POLICY,
       "audit": AUDIT}  # fmt: skip
ALLOWED = {
    "sales": {"score", "read"},
    "erp": {"score", "ingest"},
    "analyst": {"read", "model", "policy", "audit"},
}


@pytest.fixture
def fresh(tmp_path: Path, data_dir: Path, model_dir: Path) -> Iterator[TestClient]:
    """A started app on its own copy of the ledger, without any key on the client."""
    with TestClient(app_on_a_copy(tmp_path, data_dir, model_dir)) as test_client:
        yield test_client


def _call(client: TestClient, endpoint: tuple[str, str, object], token: str | None) -> int:
    method, path, body = endpoint
    headers = {API_KEY_HEADER: token} if token is not None else {}
    return client.request(method, path, json=body, headers=headers).status_code


def _create(client: TestClient, *roles: str) -> str:
    _, token = client.app.state.service.keys.create("someone", roles)  # type: ignore[attr-defined]
    return str(token)


@pytest.mark.parametrize("endpoint", list(ALL))
def test_no_key_or_a_wrong_one_is_401(fresh: TestClient, endpoint: str) -> None:
    real = _create(fresh, "sales", "erp", "analyst")
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for token in (None, "", "not-a-key", "crk_000000000000_secret", forged):
        response = fresh.request(
            ALL[endpoint][0], ALL[endpoint][1], json=ALL[endpoint][2],
            headers={API_KEY_HEADER: token} if token is not None else {},
        )  # fmt: skip
        assert response.status_code == 401, (token, response.text)
        assert response.json()["error"] == "not_authenticated"
        assert response.headers["WWW-Authenticate"] == "ApiKey"


@pytest.mark.parametrize("role", list(ALLOWED))
def test_each_role_gets_what_it_may_and_403_elsewhere(fresh: TestClient, role: str) -> None:
    token = _create(fresh, role)
    for permission, endpoint in ALL.items():
        status = _call(fresh, endpoint, token)
        if permission in ALLOWED[role]:
            assert status in {200, 201}, (role, permission, status)
        else:
            assert status == 403, (role, permission, status)
    denied = fresh.get("/v1/decisions" if role != "analyst" else "/v1/score",
                       headers={API_KEY_HEADER: token})  # fmt: skip
    assert denied.status_code in {403, 405}


def test_a_403_says_which_role_would_do(fresh: TestClient) -> None:
    response = fresh.get("/v1/model", headers={API_KEY_HEADER: _create(fresh, "sales")})
    assert response.status_code == 403
    assert "analyst" in response.json()["message"]


def test_roles_add_up_and_bearer_tokens_work(fresh: TestClient) -> None:
    token = _create(fresh, "sales", "analyst")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (
        fresh.post("/v1/score", json={"customer_id": "C00001"}, headers=bearer).status_code == 200
    )
    assert fresh.get("/v1/model", headers=bearer).status_code == 200


def test_a_revoked_key_is_refused_at_once(fresh: TestClient) -> None:
    keys = fresh.app.state.service.keys  # type: ignore[attr-defined]
    key, token = keys.create("leaver", ["sales"])
    assert _call(fresh, SCORE, token) == 200
    keys.revoke(key.key_id)
    assert _call(fresh, SCORE, token) == 401


def test_health_and_metrics_need_no_key(fresh: TestClient) -> None:
    assert fresh.get("/health/live").status_code == 200
    assert fresh.get("/health/ready").status_code == 200
    assert fresh.get("/metrics").status_code == 200


def test_keys_are_stored_hashed(fresh: TestClient, tmp_path: Path) -> None:
    token = _create(fresh, "erp")
    with sqlite3.connect(tmp_path / "credit_risk.db") as db:
        stored = db.execute("SELECT key_id, token_sha256, roles FROM api_key").fetchall()
    dump = repr(stored)
    assert token not in dump
    assert token.split("_", 2)[2] not in dump
    assert any(roles == "erp" for _, _, roles in stored)


def test_the_keys_command(tmp_path: Path, data_dir: Path, model_dir: Path) -> None:
    copy_database(data_dir / "credit_risk.db", tmp_path / "credit_risk.db")
    runner = CliRunner()
    env = {"CREDIT_RISK_DATA_DIR": str(tmp_path)}
    created = runner.invoke(
        cli_app, ["keys", "create", "--name", "erp-sage", "--role", "erp"], env=env
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("crk_")
    listed = runner.invoke(cli_app, ["keys", "list"], env=env)
    assert "erp-sage" in listed.stdout
    assert token not in listed.stdout

    bad = runner.invoke(cli_app, ["keys", "create", "--name", "x", "--role", "boss"], env=env)
    assert bad.exit_code == 2
    assert "sales, erp, analyst" in bad.output

    app = create_app(service_settings(tmp_path, model_dir), today=lambda: TODAY)
    with TestClient(app) as client:
        assert _call(client, SCORE, token) == 200
        assert _call(client, MODEL, token) == 403
        revoked = runner.invoke(cli_app, ["keys", "revoke", "erp-sage"], env=env)
        assert revoked.exit_code == 0, revoked.output
        assert _call(client, SCORE, token) == 401
    assert "erp-sage" not in runner.invoke(cli_app, ["keys", "list"], env=env).stdout
    assert "erp-sage" in runner.invoke(cli_app, ["keys", "list", "--all"], env=env).stdout
    missing = runner.invoke(cli_app, ["keys", "revoke", "nobody"], env=env)
    assert missing.exit_code == 2
    assert "keys list" in missing.output


def test_the_demo_key_is_made_once_and_shown_again(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CREDIT_RISK_DATA_DIR": str(tmp_path)}
    first = runner.invoke(cli_app, ["keys", "demo"], env=env)
    second = runner.invoke(cli_app, ["keys", "demo"], env=env)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    token = first.stdout.strip().splitlines()[-1]
    assert second.stdout.strip().splitlines()[-1] == token
    assert (tmp_path / "demo-api-key.txt").stat().st_mode & 0o077 == 0


def test_signed_in_helper_gives_a_working_client(data_dir: Path, model_dir: Path) -> None:
    app = create_app(service_settings(data_dir, model_dir), today=lambda: TODAY)
    with signed_in(app, roles=["sales"]) as client:
        assert client.post("/v1/score", json={"customer_id": "C00001"}).status_code == 200
        assert client.get("/v1/model").status_code == 403
