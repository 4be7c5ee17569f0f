"""The whole ledger read into a worker's memory, with Python's cyclic collector paused and not.

A worker reads the book after it is ready, and again after writes (`WholeLedger`); each read
makes short-lived rows by the hundred thousand on the way to its arrays. Reads the book of an
existing data folder (`make model`, or CREDIT_RISK_DATA_DIR pointing at one; nothing is
written) --repeat times each way, in turn: as the service reads it (the collector paused) and
with the pause lifted, as it ran before. Prints the medians, their ratio, and the collector's
automatic passes during a read: how many, and the longest, for which every request of the
worker waits (the collector holds Python's global lock).

    CREDIT_RISK_DATA_DIR=data .venv/bin/python bench/bench_book.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

from data_copy import embedded_only
from rich.progress import Progress

import service.portfolio
from features.ledger import LedgerStore
from service.app import create_app
from service.settings import ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="reads each way")
    args = parser.parse_args()
    embedded_only()
    folder = ServiceSettings().data_dir
    database = folder / "credit_risk.db"
    if not database.exists():
        raise SystemExit(f"no ledger in {folder}: run `make model` or set CREDIT_RISK_DATA_DIR")
    store = LedgerStore.open(f"sqlite:///file:{database}?mode=ro&uri=true", migrate=False)
    rows = store.count("invoice") + store.count("payment")
    # A worker's objects beside the book (the app's modules, routes and schemas): the
    # collector's full passes go over them all.
    app = create_app(ServiceSettings(data_dir=folder))
    ways = {"paused (as served)": True, "collector running": False}
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    passes: dict[str, list[list[float]]] = {way: [] for way in ways}
    with Progress(transient=True) as progress:
        task = progress.add_task("reading the book", total=args.repeat * len(ways))
        for _ in range(args.repeat):
            for way, paused in ways.items():
                took, seen = _read(store, paused)
                seconds[way].append(took)
                passes[way].append(seen)
                progress.advance(task)
    store.close()
    del app
    print(f"data: {folder}  {rows:,} invoices and payments; {args.repeat} reads each way, in turn")
    for way in ways:
        counts = [len(seen) for seen in passes[way]]
        longest = max((max(seen) for seen in passes[way] if seen), default=0.0)
        each = ", ".join(f"{s:.2f}" for s in seconds[way])
        print(f"  {way:<20} read {statistics.median(seconds[way]):.2f} s (median; {each}); "
              f"automatic collections {statistics.median(counts):.0f} a read, the longest "
              f"{longest * 1000:.0f} ms")  # fmt: skip
    ratio = statistics.median(seconds["paused (as served)"]) / statistics.median(
        seconds["collector running"]
    )
    print(f"  ratio paused / running: {ratio:.2f}")


def _read(store: LedgerStore, paused: bool) -> tuple[float, list[float]]:
    """One read of the book as a new worker makes it (nothing frozen yet): its seconds, and
    the seconds of each automatic collection during it (the final, deliberate one left out)."""
    gc.unfreeze()
    gc.collect()
    whole = service.portfolio.WholeLedger(store)
    seen: list[float] = []
    started = 0.0

    def timed(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if threading.current_thread().name != "whole-ledger":
            return
        if phase == "start":
            started = time.perf_counter()
        else:
            seen.append(time.perf_counter() - started)

    gc.callbacks.append(timed)
    try:
        with _pause_lifted(not paused):
            read_from = time.perf_counter()
            whole.load_in_background()
            whole.wait_loaded()
            took = time.perf_counter() - read_from
    finally:
        gc.callbacks.remove(timed)
    if whole.current([], []) is None:
        raise SystemExit("the book was not held: more rows than the service holds in memory")
    return took, seen[:-1]  # the last: gc.collect() before the book is frozen


@contextlib.contextmanager
def _pause_lifted(lifted: bool) -> Iterator[None]:
    """The read as it ran before the collector was paused for it."""
    if not lifted:
        yield
        return
    kept = service.portfolio.cyclic_collection_paused
    service.portfolio.cyclic_collection_paused = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        service.portfolio.cyclic_collection_paused = kept


if __name__ == "__main__":
    main()
