"""A real uvicorn server in a child process, for tests that need one (signals, concurrency).

The server runs in its own process group, configured only by the CREDIT_RISK_* variables given
here (the caller's are dropped) and from a scratch working directory (no stray .env). Every wait
has a deadline; `stop` and the context manager always kill the whole group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LiveServer", "ServerFailed", "live_server", "start_server"]

START_SECONDS = 90.0  # importing pandas, LightGBM and scikit-learn on a loaded machine is slow


class ServerFailed(RuntimeError):
    """The server did not become ready in time, or exited; the message holds its log."""


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, timeout: float = 15.0) -> httpx.Client:
        headers = {"X-API-Key": token} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def kill(self, sig: signal.Signals = signal.SIGKILL, timeout: float = 15.0) -> None:
        """Send `sig` to the server's process group and wait (bounded) for it to end."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(settings: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_RISK_")}
    env.update(settings)
    # One OpenMP thread: LightGBM's busy-waiting threads starve a loaded 2-core machine.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_server(
    settings: Mapping[str, str],
    workdir: Path,
    *,
    deadline_seconds: float = START_SECONDS,
    workers: int = 1,
) -> LiveServer:
    """Start `uvicorn service.worker:app_from_env` (several workers: `credit-risk serve
    --workers N`) and wait until /health/ready answers 200 (from one worker at least)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = workdir / f"server-{port}.log"
    if workers == 1:
        command = [
            sys.executable, "-m", "uvicorn", "service.worker:app_from_env", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--log-level", "warning",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-c", "import cli; cli.app()", "serve",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg reaches every child
        )  # fmt: skip
    server = LiveServer(process, port, log)
    try:
        _wait_ready(server, time.monotonic() + deadline_seconds)
    except BaseException:
        server.kill()
        raise
    return server


def _wait_ready(server: LiveServer, deadline: float) -> None:
    last = "no answer yet"
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerFailed(
                    f"the server exited with {server.process.returncode}:\n{server.log_text()}"
                )
            try:
                response = client.get("/health/ready")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(0.1)
    raise ServerFailed(f"the server was not ready in time ({last}):\n{server.log_text()}")


@contextmanager
def live_server(settings: Mapping[str, str], workdir: Path) -> Iterator[LiveServer]:
    """A started server, killed (whole process group) when the block ends, however it ends."""
    server = start_server(settings, workdir)
    try:
        yield server
    finally:
        server.kill(signal.SIGTERM, timeout=10.0)  # SIGKILL when it does not end in time
