"""Checkpoints of SQLite's write-ahead log, run by a thread of their own.

In WAL mode a commit appends pages to the `-wal` file, and by default the commit that takes the
file past 1,000 pages also copies them back into the database (a checkpoint) before returning.
For a service that is the wrong place: a request that logs a batch of decisions waited 0.15 s
of its 0.6 s write for it. A store opened for serving turns that off (`wal_autocheckpoint=0`)
and runs this instead: a daemon thread that checkpoints whenever the file has grown past a
threshold. SQLite releases Python's lock while it copies, so the copy runs beside requests.

PASSIVE checkpoints never wait for readers or writers; a page a reader still needs is copied by
a later round. Several processes may each run one: a round that finds another in progress
leaves the work to it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

__all__ = ["WAL_CHECKPOINT_BYTES", "WalCheckpoints"]

log = logging.getLogger(__name__)

WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's own threshold: 1,000 pages of 4 KiB


class WalCheckpoints:
    """Checkpoint the write-ahead log of `database` every `seconds` once it holds more than
    `threshold` bytes, until `stop` (which runs a last checkpoint)."""

    def __init__(
        self, database: Path, *, seconds: float = 0.5, threshold: int = WAL_CHECKPOINT_BYTES
    ) -> None:
        self.database = database
        self._wal = database.with_name(database.name + "-wal")
        self._seconds, self._threshold = seconds, threshold
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)
        self._thread.start()

    def checkpoint(self) -> tuple[int, int]:
        """One PASSIVE checkpoint now: (frames in the log, frames copied to the database);
        (-1, -1) when the database is not in WAL mode."""
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            return _checkpoint(connection)
        finally:
            connection.close()

    def _run(self) -> None:
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            while not self._stopped.wait(self._seconds):
                # The file keeps its size when the log restarts from its beginning: a round may
                # find nothing new to copy, which costs a look at the log's index.
                if self._wal_bytes() < self._threshold:
                    continue
                try:
                    _checkpoint(connection)
                except sqlite3.Error as error:  # keep the thread: the next round tries again
                    log.warning("checkpoint of %s failed: %s", self.database, error)
        finally:
            connection.close()

    def _wal_bytes(self) -> int:
        try:
            return self._wal.stat().st_size
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        """Stop the thread and checkpoint what is left."""
        self._stopped.set()
        self._thread.join(timeout=30)
        try:
            self.checkpoint()
        except sqlite3.Error as error:
            log.warning("last checkpoint of %s failed: %s", self.database, error)


def _checkpoint(connection: sqlite3.Connection) -> tuple[int, int]:
    _busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames), int(copied)
