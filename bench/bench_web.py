"""Load times of the web pages on a make-run-size ledger, against the 1 s target.

Serves the app in process (Starlette's TestClient) on an existing data folder with its model
(`make model`, or CREDIT_RISK_DATA_DIR pointing at one), runs today's portfolio scoring once
(timed: it is the background work of the first web visit of a day), then times each page
`--repeat` times and prints the medians. A temporary analyst+sales key is created and revoked.

    CREDIT_RISK_DATA_DIR=data .venv/bin/python bench/bench_web.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from service.app import create_app
from service.settings import ServiceSettings
from service.web.session import KEY_COOKIE

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    settings = ServiceSettings()
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        state = app.state.service
        key, token = state.keys.create("bench-web", ["sales", "analyst"])
        try:
            client.cookies.set(KEY_COOKIE, token)
            started = time.perf_counter()
            client.get("/check")  # the first visit starts today's portfolio scoring
            app.state.web.scoring.wait()
            print(f"data: {settings.data_dir}  model: {state.host.model.version}")
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
            print(f"{'page':<26}{'median':>10}{'max':>10}  target {TARGET_SECONDS:.0f} s")
            for name, path in pages.items():
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = client.get(path)
                    times.append(time.perf_counter() - started)
                    assert answer.status_code == 200, (path, answer.status_code)
                median = statistics.median(times)
                verdict = "ok" if median < TARGET_SECONDS else "SLOW"
                print(f"{name:<26}{median * 1000:>8.0f} ms{max(times) * 1000:>7.0f} ms  {verdict}")
        finally:
            state.keys.revoke(key.key_id)


def _a_customer(client: TestClient) -> str:
    answer = client.get("/portfolio")
    marker = 'href="/customers/'
    start = answer.text.index(marker) + len(marker)
    return answer.text[start : answer.text.index('"', start)]


if __name__ == "__main__":
    main()
