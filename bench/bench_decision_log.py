"""Decision log benchmark: writing a batch's decisions and listing a customer's, on a grown log.

Three SQLite logs hold the same decisions (--decisions of them, over --customers accounts): one
with the schema before the per-customer and per-SIREN indexes went by block of entries
(revision s0003: indexed by subject then entry), one with them (s0004), one at the latest
revision (s0005 adds the index by channel and time). Prints, measured side by side in one run
(medians, the logs in turn):
- appending a batch of --batch decisions, as `POST /v1/score/batch` logs them;
- reading the rows of a customer's newest 100 decisions, as `GET /v1/decisions?customer_id=`
  does before decoding them: in one statement from the old log (as that revision's service
  did), block by block from the latest;
- the files' sizes;
- compressing a batch's chunks (CHUNK_ITEMS answers each, with the terms the shipped policy
  recommends) as the log does, zstd, against zlib's fastest level, which it used before: time
  per batch and bytes per decision.

    .venv/bin/python bench/bench_decision_log.py [--decisions 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from rich.progress import Progress

from features.ledger import LedgerStore
from service.answers import ScoreAnswer, SubjectAnswer, answers_json
from service.audit import (
    CHUNK_ITEMS,
    AuditLog,
    DecisionFilter,
    answers_array,
    filtered_query,
    found_rows,
    packed,
    unpacked,
)
from service.decision_ids import new_decision_ids
from service.records import MIGRATIONS
from service.schemas import ScoreRequest
from service.terms import OrderColumns, PayerContact, default_policy, recommended_terms_json

OLD = "s0003"  # customer and SIREN indexes by subject then entry
BLOCKS = "s0004"  # by block of entries, subject, entry
AS_OF = date(2026, 11, 30)
GRADES = "ABCDE"


def open_log(path: Path, revision: str) -> tuple[LedgerStore, AuditLog]:
    store = LedgerStore.open(f"sqlite:///{path}", cache_mb=64)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return store, AuditLog(store.engine)


def decisions(
    pick: random.Random, customers: int, count: int
) -> tuple[list[ScoreRequest], list[ScoreAnswer]]:
    """`count` decisions about customers drawn at random, as a batch answers them."""
    requests, answers = [], []
    for decision_id in new_decision_ids(count):
        number = pick.randrange(customers)
        customer_id, siren = f"C{number:05d}", f"{100_000_000 + number * 37:09d}"
        amount = round(pick.uniform(500, 50_000), 2)
        p_late = round(pick.random(), 4)
        requests.append(ScoreRequest(customer_id=customer_id, amount=amount))
        answers.append(answer(decision_id, customer_id, siren, p_late))
    return requests, answers


def answer(decision_id: UUID, customer_id: str, siren: str, p_late: float) -> ScoreAnswer:
    return ScoreAnswer(
        decision_id=decision_id, as_of=AS_OF,
        subject=SubjectAnswer(customer_id=customer_id, siren=siren, name=None, prospect=False,
                              basis="payment history with the supplier and company data"),
        p_late=p_late, p_severe=round(p_late / 3, 4), expected_days_late=3.5,
        due_date=AS_OF + timedelta(days=30), expected_payment_date=AS_OF + timedelta(days=33),
        grade=GRADES[min(int(p_late * 5), 4)], reasons=None, review_required=False,
        review_reason=None, model_version="bench", policy_version=None, terms=None,
    )  # fmt: skip


def with_terms(
    pick: random.Random, customers: int, count: int
) -> tuple[list[ScoreRequest], list[ScoreAnswer]]:
    """`decisions`, each answer with the terms the shipped policy recommends for its order and
    customer (contacts, exposure and NAF codes drawn at random)."""
    requests, answers = decisions(pick, customers, count)
    numbers = [int(a.subject.customer_id[1:]) for a in answers if a.subject.customer_id]
    payers = [
        PayerContact(name=f"Payeur {n}", email=f"compta{n}@client{n}.fr",
                     phone=f"01 {n % 90 + 10} {n % 97:02d} {n % 89:02d} {n % 83:02d}")
        if n % 4 else None
        for n in numbers
    ]  # fmt: skip
    orders = OrderColumns(
        grade=[a.grade for a in answers],
        p_severe=[a.p_severe for a in answers],
        order_amount=[round(pick.uniform(500, 50_000), 2) for _ in answers],
        requested=[
            pick.choice([None, (30, "invoice_date"), (60, "invoice_date")]) for _ in answers
        ],
        open_amount=[round(pick.uniform(0, 20_000), 2) for _ in answers],
        oldest_overdue_days=[pick.choice([0, 0, 0, 12, 45, 90]) for _ in answers],
        usual_monthly_amount=[round(pick.uniform(1_000, 30_000), 2) for _ in answers],
        naf_code=[pick.choice(["62.01Z", "47.11B", "10.13A", "43.21A", None]) for _ in answers],
        supplier_naf_code=[None] * count,
        is_sole_trader=[n % 23 == 0 for n in numbers],
        preferred_channel=[pick.choice([None, "email", "letter"]) for _ in answers],
        payer=payers,
        good_payer=[pick.random() < 0.3 for _ in answers],
        invoice_date=[AS_OF] * count,
    )
    policy = default_policy()
    for answer_, terms in zip(answers, recommended_terms_json(orders, policy), strict=True):
        answer_.terms, answer_.policy_version = terms, policy.version
    return requests, answers


def compression(pick: random.Random, customers: int, count: int, repeat: int) -> None:
    """The log's chunk compression against zlib's fastest level, side by side."""
    sent = answers_json(with_terms(pick, customers, count)[1])
    chunks = [answers_array(sent[start : start + CHUNK_ITEMS])
              for start in range(0, count, CHUNK_ITEMS)]  # fmt: skip
    assert [item for chunk in chunks for item in unpacked(packed(chunk))] == [
        item for chunk in chunks for item in unpacked(zlib.compress(chunk, 1))
    ]
    codecs: dict[str, Callable[[bytes], bytes]] = {
        "zstd (the log's)": packed,
        "zlib level 1 (before)": lambda chunk: zlib.compress(chunk, 1),
    }
    times: dict[str, list[float]] = {name: [] for name in codecs}
    for _ in range(repeat):
        for name, codec in codecs.items():
            times[name].append(timed(lambda c=codec: [c(chunk) for chunk in chunks]))
    raw = sum(map(len, chunks))
    print(f"\nChunks of a batch of {count:,} answers with terms ({raw / 1e6:.1f} MB of JSON, "
          f"{raw / count:,.0f} bytes a decision), medians of {repeat}:")  # fmt: skip
    for name, codec in codecs.items():
        stored = sum(len(codec(chunk)) for chunk in chunks)
        seconds = statistics.median(times[name])
        print(f"  {name:<22} {seconds:.3f} s a batch, {stored / count:,.0f} bytes a decision "
              f"({raw / stored:.1f} times smaller)")  # fmt: skip
    zstd, before = codecs
    ratio = statistics.median(times[zstd]) / statistics.median(times[before])
    print(f"  ratio zstd / zlib: time {ratio:.2f}")


def record(log: AuditLog, batch: tuple[list[ScoreRequest], list[ScoreAnswer]]) -> None:
    log.record(*batch, caller="bench", key_id=None, channel="batch", policy_version=None)


def one_statement(connection: sa.Connection, criteria: DecisionFilter) -> list[sa.Row[Any]]:
    return list(connection.execute(filtered_query(criteria)).all())


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000, help="decisions logged first")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=10_000, help="decisions of a measured batch")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-decision-log-") as folder:
        logs = {
            f"by subject ({OLD})": open_log(Path(folder) / "old.db", OLD),
            f"by block ({BLOCKS})": open_log(Path(folder) / "blocks.db", BLOCKS),
            "by channel too (latest)": open_log(Path(folder) / "new.db", "head"),
        }
        pick = random.Random(11)
        with Progress() as progress:
            task = progress.add_task("filling the logs", total=args.decisions)
            for start in range(0, args.decisions, args.batch):
                batch = decisions(pick, args.customers, min(args.batch, args.decisions - start))
                for _, log in logs.values():
                    record(log, batch)
                progress.advance(task, len(batch[0]))

        appends: dict[str, list[float]] = {name: [] for name in logs}
        lists: dict[str, list[float]] = {name: [] for name in logs}
        for _ in range(args.repeat):
            batch = decisions(pick, args.customers, args.batch)
            asked = [f"C{pick.randrange(args.customers):05d}" for _ in range(20)]
            for name, (store, log) in logs.items():
                appends[name].append(timed(lambda log=log, b=batch: record(log, b)))
                read = one_statement if name.endswith(f"({OLD})") else found_rows
                with store.engine.connect() as connection:
                    for customer_id in asked:
                        criteria = DecisionFilter(customer_id=customer_id, limit=100)
                        lists[name].append(timed(lambda c=connection, f=criteria, r=read: r(c, f)))

        lists_run = len(next(iter(lists.values())))
        print(f"\nDecision log of {args.decisions:,} decisions over {args.customers:,} customers "
              f"(SQLite), medians of {args.repeat} batches and {lists_run:,} lists:")  # fmt: skip
        old, blocks, new = logs
        for name, (store, _) in logs.items():
            size = Path(str(store.engine.url.database)).stat().st_size / 1e6
            print(f"  {name:<26} append {args.batch:,}: {statistics.median(appends[name]):.3f} s"
                  f" ({args.batch / statistics.median(appends[name]):,.0f} rows/s); "
                  f"a customer's newest 100 rows: {1e3 * statistics.median(lists[name]):.2f} ms; "
                  f"file {size:,.0f} MB")  # fmt: skip
            store.close()
        for base, revision in ((old, OLD), (blocks, BLOCKS)):
            ratio = statistics.median(appends[new]) / statistics.median(appends[base])
            listed = statistics.median(lists[new]) / statistics.median(lists[base])
            print(f"  ratio latest / {revision}: append {ratio:.2f}, list {listed:.2f}")
        compression(pick, args.customers, args.batch, args.repeat)


if __name__ == "__main__":
    main()
