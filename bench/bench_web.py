"""Load times of the web pages on a make-run-size ledger, against the 1 s target.

Serves the app in process (Starlette's TestClient) on a copy of an existing data folder with its
model (`make model`, or CREDIT_RISK_DATA_DIR pointing at one; the folder itself is never
written), runs today's portfolio scoring once (timed: it is the background work of the first
web visit of a day), then times each page `--repeat` times and prints the medians; then grows
the copy's decision log by --decisions batch decisions with terms (the log of months of
service: the customer and model cards read it) and times the pages again, side by side.

    CREDIT_RISK_DATA_DIR=data .venv/bin/python bench/bench_web.py [--repeat 7] [--decisions N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from bench_decision_log import record, with_terms
from data_copy import embedded_only, serving_copy
from rich.progress import Progress

from service.app import create_app
from service.audit import AuditLog
from service.settings import ServiceSettings
from service.web.session import KEY_COOKIE

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--decisions", type=int, default=1_000_000,
                        help="batch decisions added to the log for the second timing")  # fmt: skip
    args = parser.parse_args()
    embedded_only()
    folder = ServiceSettings().data_dir
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        settings = ServiceSettings(data_dir=serving_copy(folder, Path(scratch)))
        app = create_app(settings)
        with TestClient(app, follow_redirects=False) as client:
            state = app.state.service
            _, token = state.keys.create("bench-web", ["sales", "analyst"])
            client.cookies.set(KEY_COOKIE, token)
            started = time.perf_counter()
            client.get("/check")  # the first visit starts today's portfolio scoring
            app.state.web.scoring.wait()
            print(f"data: {folder}  model: {state.host.model.version}")
            seconds = time.perf_counter() - started
            status = app.state.web.scoring.status
            print(
                f"portfolio scoring and caches (background, once a day): {seconds:.1f} s ({status})"
            )
            customer = _a_customer(client)
            pages = {
                "sign-in": "/sign-in",
                "prospect search (name)": "/check?q=bou",
                "score card (customer)": f"/check/score?customer_id={customer}&amount=12000",
                "what-if fragment": f"/check/card?customer_id={customer}&amount=5e4&terms_days=45",
                "portfolio": "/portfolio",
                "customer card": f"/customers/{customer}",
                "model card": "/model",
            }
            fresh = {name: _timed(client, path, args.repeat) for name, path in pages.items()}
            customers = state.store.count("customer")
            _grow(state.audit, args.decisions, customers)
            grown = {name: _timed(client, path, args.repeat) for name, path in pages.items()}
        print(f"{'page':<26}{'new log':>24}{f'+{args.decisions:,} decisions':>24}"
              f"  target {TARGET_SECONDS:.0f} s")  # fmt: skip
        for name in pages:
            cells = "".join(
                f"{statistics.median(times) * 1000:>10.0f} ms (max{max(times) * 1000:>5.0f})"
                for times in (fresh[name], grown[name])
            )
            slow = max(statistics.median(fresh[name]), statistics.median(grown[name]))
            print(f"{name:<26}{cells}  {'ok' if slow < TARGET_SECONDS else 'SLOW'}")


def _timed(client: TestClient, path: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, (path, answer.status_code)
    return times


def _grow(audit: AuditLog, decisions: int, customers: int) -> None:
    """The log grown by `decisions` batch decisions with terms, 10,000 at a time, about the
    ledger's customers (C00001...)."""
    pick = random.Random(5)
    with Progress() as progress:
        task = progress.add_task("growing the decision log", total=decisions)
        for start in range(0, decisions, 10_000):
            batch = with_terms(pick, customers, min(10_000, decisions - start))
            record(audit, batch)
            progress.advance(task, len(batch[0]))


def _a_customer(client: TestClient) -> str:
    answer = client.get("/portfolio")
    marker = 'href="/customers/'
    start = answer.text.index(marker) + len(marker)
    return answer.text[start : answer.text.index('"', start)]


if __name__ == "__main__":
    main()
