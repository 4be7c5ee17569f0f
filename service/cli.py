"""`serve`: run the scoring service with uvicorn (wired into the `credit-risk` command)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["serve_command"]


def serve_command(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes", min=1)] = 1,
) -> None:
    """Serve the API; settings come from CREDIT_RISK_* variables (or .env)."""
    import uvicorn

    # One OpenMP thread per worker: a request scores a few rows, and LightGBM's spinning
    # threads compete with the other workers for the cores (scale with --workers instead).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"credit-risk API on http://{shown}:{port}  (docs: http://{shown}:{port}/docs)")
    # A factory, so each worker builds its own app (and loads its own model) after forking.
    uvicorn.run("service.app:app_from_env", factory=True, host=host, port=port, workers=workers)
