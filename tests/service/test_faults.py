"""Faults against a real server: a model swapped under load, a corrupted model, a killed process,
the same write sent by several clients at once.

Each test starts uvicorn in a child process on a copy of the demo ledger (the session's copy is
shared), and kills its process group at the end. Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import sqlalchemy as sa

from features.ledger import LedgerStore
from features.scoring_model import ScoringModel
from service.keys import ApiKeys
from service.records import migrate_service_tables
from service.tables import ingestion

from .live_server import LiveServer, live_server, start_server

OLD, NEW = "test-v1", "test-v2"
WAIT_SECONDS = 60.0  # upper bound of any wait below, on a loaded machine


def _ledger_url(data: Path) -> str:
    return f"sqlite:///{data / 'credit_risk.db'}"


def _service_data(
    tmp_path: Path, data_dir: Path, **roles: Sequence[str]
) -> tuple[Path, dict[str, str]]:
    """A copy of the demo ledger and a key per name with these roles (made before the server
    starts: the test never writes the database while the server runs)."""
    data = Path(shutil.copytree(data_dir, tmp_path / "data"))
    store = LedgerStore.open(_ledger_url(data))
    try:
        migrate_service_tables(store.engine)
        keys = ApiKeys(store.engine)
        tokens = {name: keys.create(name, wanted)[1] for name, wanted in roles.items()}
    finally:
        store.close()
    return data, tokens


def _settings(data: Path, model: Path) -> dict[str, str]:
    return {"CREDIT_RISK_DATA_DIR": str(data), "CREDIT_RISK_MODEL_DIR": str(model)}


def _wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.02)


# ---- a model replaced while requests keep coming ---------------------------------------------


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic() when the request left
    path: str
    status: int | None  # None: no HTTP answer at all
    versions: tuple[str, ...]  # every model version the body names
    error: str = ""


@dataclass
class ScoringLoad:
    """Threads scoring known customers (single scores and small batches) until stopped."""

    server: LiveServer
    token: str
    customers: Sequence[str]
    threads: int = 8
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=WAIT_SECONDS)
        assert not any(w.is_alive() for w in self._workers), "a load thread did not stop"

    def count(self, after: float = 0.0) -> int:
        with self._lock:
            return sum(1 for a in self.answers if a.sent > after)

    def _run(self, n: int) -> None:
        with self.server.client(self.token) as client:
            i = n
            while not self._stop.is_set():
                answer = self._batch(client, i) if n % 2 else self._score(client, i)
                with self._lock:
                    self.answers.append(answer)
                i += self.threads

    def _score(self, client: httpx.Client, i: int) -> Answer:
        customer = self.customers[i % len(self.customers)]
        return self._post(client, "/v1/score", {"customer_id": customer, "explain": i % 3 == 0})

    def _batch(self, client: httpx.Client, i: int) -> Answer:
        items = [{"customer_id": self.customers[(i + k) % len(self.customers)]} for k in range(4)]
        return self._post(client, "/v1/score/batch", {"items": items})

    @staticmethod
    def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> Answer:
        sent = time.monotonic()
        try:
            response = client.post(path, json=body)
        except httpx.HTTPError as error:
            return Answer(sent, path, None, (), repr(error))
        if response.status_code != 200:
            return Answer(sent, path, response.status_code, (), response.text[:300])
        answer = response.json()
        versions = [answer["model_version"]]
        versions += [result["model_version"] for result in answer.get("results", [])]
        return Answer(sent, path, 200, tuple(versions))


def _restamped(bundle: Path, version: str, into: Path) -> Path:
    model = ScoringModel.load(bundle)
    return dataclasses.replace(model, metadata={**model.metadata, "version": version}).save(into)


def _point(link: Path, target: str) -> None:
    """Swap what the symlink `link` names in one rename: a reader sees the old or the new."""
    staged = link.with_name(link.name + ".staged")
    staged.symlink_to(target)
    staged.replace(link)


def test_the_champion_is_replaced_while_requests_keep_coming(
    tmp_path: Path, data_dir: Path, model_dir: Path, portfolio: dict[str, pd.DataFrame]
) -> None:
    data, tokens = _service_data(tmp_path, data_dir, load=["sales"], ops=["analyst"])
    models = tmp_path / "models"
    shutil.copytree(model_dir, models / "v1")
    _restamped(model_dir, NEW, models / "v2")
    current = models / "current"
    current.symlink_to("v1")
    customers = list(portfolio["customer"]["customer_id"].head(40))

    with live_server(_settings(data, current), tmp_path / "run") as server:
        load = ScoringLoad(server, tokens["load"], customers)
        load.start()
        try:
            _wait_until(lambda: load.count() >= 40, WAIT_SECONDS, "answers before the swap")
            _point(current, "v2")
            with server.client(tokens["ops"], timeout=WAIT_SECONDS) as ops:
                reload = ops.post("/v1/model/reload")
            reloaded = time.monotonic()
            _wait_until(
                lambda: load.count(after=reloaded) >= 40, WAIT_SECONDS, "answers after the swap"
            )
        finally:
            load.stop()

    assert reload.status_code == 200, reload.text
    assert reload.json()["version"] == NEW
    failed = [a for a in load.answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(load.answers)} requests failed: {failed[:3]}"
    mixed = [a for a in load.answers if len(set(a.versions)) != 1]
    assert not mixed, f"answers naming several model versions: {mixed[:3]}"
    seen = {a.versions[0] for a in load.answers}
    assert seen == {OLD, NEW}
    late = [a for a in load.answers if a.sent > reloaded and a.versions[0] != NEW]
    assert not late, f"requests sent after the reload answered with the old model: {late[:3]}"


# ---- a corrupted model file --------------------------------------------------------------------


def test_a_truncated_model_file_is_refused_and_the_old_model_serves_on(
    tmp_path: Path, data_dir: Path, own_model_dir: Path
) -> None:
    data, tokens = _service_data(tmp_path, data_dir, caller=["sales", "analyst"])
    with (
        live_server(_settings(data, own_model_dir), tmp_path / "run") as server,
        server.client(tokens["caller"]) as client,
    ):
        before = client.post("/v1/score", json={"customer_id": "C00001"})
        assert before.json()["model_version"] == OLD
        severe = own_model_dir / "severe.lgb.txt"
        severe.write_bytes(severe.read_bytes()[: severe.stat().st_size // 2])

        refused = client.post("/v1/model/reload")
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "model_reload_refused"
        assert f"{OLD} keeps serving" in refused.json()["message"]

        after = client.post("/v1/score", json={"customer_id": "C00001"})
        assert after.status_code == 200, after.text
        assert after.json()["model_version"] == OLD
        assert after.json()["p_late"] == before.json()["p_late"]

        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["model_version"] == OLD
        last = ready.json()["last_reload"]
        assert last["ok"] is False
        assert "severe.lgb.txt" in last["message"]


# ---- the process killed while the ERP sends invoices and payments ---------------------------


@dataclass(frozen=True)
class Sent:
    """An invoice and its payment as the stream sends them, and what came back (None: no
    answer)."""

    invoice: dict[str, Any]
    payment: dict[str, Any]
    idempotency_key: str
    invoice_status: int | None = None
    payment_status: int | None = None
    payment_body: dict[str, Any] | None = None
    payment_replayed: bool | None = None


def _request(i: int, customer: str) -> Sent:
    amount = round(100 + i * 1.37, 2)
    invoice = {
        "invoice_id": f"KILL-{i:05d}",
        "customer_id": customer,
        "issue_date": "2025-11-01",
        "due_date": "2025-12-01",
        "amount": amount,
        "currency": "EUR",
        "disputed": i % 7 == 0,
        "po_number": f"PO-{i}",
    }
    allocations = [{"invoice_id": invoice["invoice_id"], "amount": amount}]
    payment = {"payment_id": f"PAY-{i:05d}", "paid_date": "2025-12-10", "allocations": allocations}
    return Sent(invoice, payment, f"kill-test-{i:05d}")


def _send(client: httpx.Client, request: Sent) -> Sent:
    """Send the invoice then its payment; stop at the first request without an answer."""
    sent = Sent(request.invoice, request.payment, request.idempotency_key)
    invoice = {k: v for k, v in sent.invoice.items() if k != "invoice_id"}
    try:
        put = client.put(f"/v1/invoices/{sent.invoice['invoice_id']}", json=invoice)
    except httpx.TransportError:
        return sent
    sent = dataclasses.replace(sent, invoice_status=put.status_code)
    try:
        post = client.post(
            "/v1/payments", json=sent.payment, headers={"Idempotency-Key": sent.idempotency_key}
        )
    except httpx.TransportError:
        return sent
    return dataclasses.replace(
        sent,
        payment_status=post.status_code,
        payment_body=post.json(),
        payment_replayed=post.headers.get("Idempotent-Replayed") == "true",
    )


@dataclass
class IngestionStream:
    """One thread sending invoices and payments in order until the server stops answering."""

    server: LiveServer
    token: str
    customer: str
    sent: list[Sent] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with self.server.client(self.token, timeout=10.0) as client:
                for i in range(100_000):
                    done = _send(client, _request(i, self.customer))
                    self.sent.append(done)
                    if done.payment_status is None:
                        return
        finally:
            self.stopped.set()

    def acknowledged(self) -> int:
        return sum(1 for s in list(self.sent) if s.payment_status is not None)


@dataclass(frozen=True)
class Stored:
    invoice: bool
    payment: bool


def _stored_rows(data: Path) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Invoices and settlements of the stream, and the idempotency keys remembered."""
    store = LedgerStore.open(_ledger_url(data))
    try:
        invoices = store.read("invoice")
        payments = store.read("payment")
        with store.connect() as connection:
            keys = set(connection.execute(sa.select(ingestion.c.idempotency_key)).scalars())
    finally:
        store.close()
    return (
        invoices[invoices["invoice_id"].str.startswith("KILL-")],
        payments[payments["payment_id"].str.startswith("PAY-")],
        keys,
    )


def _as_stored(invoice: dict[str, Any]) -> dict[str, Any]:
    dates = {k: pd.Timestamp(invoice[k]) for k in ("issue_date", "due_date")}
    return {k: v for k, v in {**invoice, **dates}.items() if k != "invoice_id"}


def _check_all_or_nothing(sent: Sequence[Sent], data: Path) -> list[Stored]:
    """Acknowledged writes are stored exactly once and as sent; the others wholly or not at
    all; a payment's rows and its remembered answer are stored together or not at all."""
    invoices, payments, keys = _stored_rows(data)
    assert not invoices["invoice_id"].duplicated().any()
    assert not payments.duplicated(["payment_id", "invoice_id"]).any()
    by_id = invoices.set_index("invoice_id")
    found = []
    for s in sent:
        invoice_id, payment_id = s.invoice["invoice_id"], s.payment["payment_id"]
        expected = _as_stored(s.invoice)
        invoice_stored = invoice_id in by_id.index
        if invoice_stored:
            row = by_id.loc[invoice_id, list(expected)].to_dict()
            assert row == expected, f"{invoice_id} stored as {row}, sent as {expected}"
        else:
            assert s.invoice_status is None, f"{invoice_id} was acknowledged but is not stored"
        rows = payments[payments["payment_id"] == payment_id]
        payment_stored = len(rows) > 0
        if payment_stored:
            [allocation] = s.payment["allocations"]
            assert len(rows) == 1, rows
            assert rows["invoice_id"].iloc[0] == allocation["invoice_id"]
            assert rows["amount"].iloc[0] == allocation["amount"]
            assert rows["paid_date"].iloc[0] == pd.Timestamp(s.payment["paid_date"])
        else:
            assert s.payment_status is None, f"{payment_id} was acknowledged but is not stored"
        assert (s.idempotency_key in keys) == payment_stored, s.idempotency_key
        found.append(Stored(invoice_stored, payment_stored))
    return found


def test_a_killed_server_loses_no_acknowledged_write_and_retries_are_safe(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    data, tokens = _service_data(tmp_path, data_dir, erp=["erp"])
    settings = _settings(data, model_dir)
    server = start_server(settings, tmp_path / "run")
    try:
        stream = IngestionStream(server, tokens["erp"], customer="C00001")
        thread = threading.Thread(target=stream.run, daemon=True)
        started = time.monotonic()
        thread.start()
        _wait_until(lambda: stream.acknowledged() >= 15, WAIT_SECONDS, "acknowledged writes")
        # Half a request later: the next invoice is most likely being written right then.
        time.sleep((time.monotonic() - started) / (2 * 15) / 2)
        server.kill(signal.SIGKILL)
        assert stream.stopped.wait(WAIT_SECONDS), "the stream did not notice the server died"
        thread.join(timeout=WAIT_SECONDS)
    finally:
        server.kill()

    sent = list(stream.sent)
    assert all(s.invoice_status in (201, None) for s in sent), [s.invoice_status for s in sent]
    assert all(s.payment_status in (201, None) for s in sent), [s.payment_status for s in sent]
    assert not any(s.payment_replayed for s in sent)
    before = _check_all_or_nothing(sent, data)

    # The ERP retries everything it sent, the answered requests too (it may have missed them).
    with (
        live_server(settings, tmp_path / "rerun") as restarted,
        restarted.client(tokens["erp"]) as client,
    ):
        retried = [_send(client, s) for s in sent]
        again = [_send(client, s) for s in sent]

    for first, stored, retry, second in zip(sent, before, retried, again, strict=True):
        # Stored before the kill: "unchanged" (200), never a conflict; else stored now (201).
        assert retry.invoice_status == (200 if stored.invoice else 201), retry
        # A payment remembered before the kill is replayed with its first answer.
        assert retry.payment_status == 201, retry
        assert retry.payment_replayed is stored.payment, retry
        if first.payment_body is not None:
            assert retry.payment_body == first.payment_body
        assert second.invoice_status == 200, second
        assert second.payment_status == 201, second
        assert second.payment_replayed is True, second
        assert second.payment_body == retry.payment_body
    assert all(s == Stored(True, True) for s in _check_all_or_nothing(retried, data))


# ---- the same write sent by several clients at once ------------------------------------------


def _at_once(
    server: LiveServer,
    token: str,
    requests: Sequence[tuple[str, str, dict[str, Any]]],
    **headers: str,
) -> list[httpx.Response]:
    """Send these (method, path, body) requests from as many threads, released together."""
    barrier = threading.Barrier(len(requests))

    def send(request: tuple[str, str, dict[str, Any]]) -> httpx.Response:
        method, path, body = request
        with server.client(token) as client:
            barrier.wait(timeout=WAIT_SECONDS)
            return client.request(method, path, json=body, headers=headers)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests, timeout=WAIT_SECONDS))


def test_a_write_sent_by_several_clients_at_once_is_stored_once(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    """An ERP retrying while its first try still runs: one write wins, the others are answered
    as if they came after it (unchanged, a conflict, or the first answer replayed)."""
    data, tokens = _service_data(tmp_path, data_dir, erp=["erp"])
    winners = {}
    with live_server(_settings(data, model_dir), tmp_path / "run") as server:
        for n in range(6):
            invoice_id = f"RACE-{n:03d}"
            sent = [
                {"customer_id": "C00001", "issue_date": "2025-10-01", "due_date": "2025-10-31",
                 "amount": 500.0 + (k // 2)}
                for k in range(4)
            ]  # fmt: skip
            answers = _at_once(
                server, tokens["erp"], [("PUT", f"/v1/invoices/{invoice_id}", b) for b in sent]
            )
            statuses = [a.status_code for a in answers]
            assert statuses.count(201) == 1, [a.text for a in answers]
            winner = sent[statuses.index(201)]
            winners[invoice_id] = winner
            for body, status in zip(sent, statuses, strict=True):
                assert status == (201 if body is winner else 200 if body == winner else 409)

            payment = {"payment_id": f"RACE-P{n:03d}", "paid_date": "2025-10-20",
                       "allocations": [{"invoice_id": invoice_id, "amount": 100.0}]}  # fmt: skip
            answers = _at_once(
                server, tokens["erp"], [("POST", "/v1/payments", payment)] * 4,
                **{"Idempotency-Key": f"race-{n}"},
            )  # fmt: skip
            assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
            replayed = [a.headers.get("Idempotent-Replayed") == "true" for a in answers]
            assert replayed.count(False) == 1
            assert all(a.json() == answers[0].json() for a in answers)

    store = LedgerStore.open(_ledger_url(data))
    try:
        invoices = store.read("invoice").set_index("invoice_id")
        payments = store.read("payment")
    finally:
        store.close()
    for invoice_id, winner in winners.items():
        assert invoices.loc[invoice_id, "amount"] == winner["amount"]
    raced = payments[payments["payment_id"].str.startswith("RACE-P")]
    assert len(raced) == len(winners)


# ---- several workers share the connections ----------------------------------------------------


def _group_processes(group: int) -> list[int]:
    """The processes of a process group (the server's supervisor and its workers)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (command) "
        if int(fields[2]) == group:  # state, ppid, pgrp
            members.append(int(entry.name))
    return members


def _socket_owners(pids: Sequence[int]) -> dict[str, int]:
    """The process holding each socket inode."""
    owners = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owners[target[8:-1]] = pid
    return owners


def _tcp_sockets(port: int, state: str) -> list[str]:
    """Inodes of the local IPv4 TCP sockets on `port` in `state` (01 established, 0A listen)."""
    inodes = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.append(fields[9])
    return inodes


def test_workers_share_a_burst_of_connections(
    tmp_path: Path, data_dir: Path, model_dir: Path
) -> None:
    """With `--workers 2`, each worker listens on a socket of its own and the kernel spreads new
    connections over them: a burst of 40 connections does not pile up on one worker (with one
    shared socket, the first worker to wake accepted most of them)."""
    data, _ = _service_data(tmp_path, data_dir)
    server = start_server(_settings(data, model_dir), tmp_path / "run", workers=2)
    try:
        _wait_until(lambda: len(_tcp_sockets(server.port, "0A")) == 2, WAIT_SECONDS, "both workers")
        connections = [
            socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(40)
        ]  # all opened before any is used, as a client pool does
        try:
            for connection in connections:  # an answer on each: every one was accepted
                connection.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
            for connection in connections:
                assert connection.recv(4096).startswith(b"HTTP/1.1 200")
            owners = _socket_owners(_group_processes(server.process.pid))
            per_worker = Counter(owners[i] for i in _tcp_sockets(server.port, "01") if i in owners)
        finally:
            for connection in connections:
                connection.close()
    finally:
        server.kill(signal.SIGTERM, timeout=10.0)
    assert sum(per_worker.values()) == 40
    assert len(per_worker) == 2, per_worker
    assert min(per_worker.values()) >= 10, per_worker  # even, give or take the hashing
