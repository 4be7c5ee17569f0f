"""The `serve` command starts uvicorn on the app factory."""

from __future__ import annotations

import os
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from service import cli


def test_serve_runs_the_factory_and_prints_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # restored after the test
    app = typer.Typer()
    app.command()(cli.serve_command)
    result = CliRunner().invoke(app, ["--port", "8123", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123" in result.output
    assert os.environ["OMP_NUM_THREADS"] == "1"
    assert calls == [
        (
            "service.app:app_from_env",
            {"factory": True, "host": "127.0.0.1", "port": 8123, "workers": 2},
        )
    ]
