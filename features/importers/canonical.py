"""Import the canonical layout: one CSV or Parquet file per table (see the README).

Files are named after their table (`invoices.csv`, `customers.parquet`, ...); a directory
imports every such file it holds. All the files of one call land together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import ImportRejected, RowProblem
from features.importers.files import file_sha256, read_delimited
from features.importers.landing import Progress, land, no_progress
from features.ledger import LedgerStore, WriteReport
from features.schemas import TABLES, ParseOptions, parse_table, with_row_numbers

# File stems accepted for each table (singular or plural, as people name them).
TABLE_FILE_NAMES: dict[str, str] = {
    alias: table
    for table in TABLES
    if table != "demo_oracle"
    for alias in (table, table + "s", table.replace("company", "companie") + "s")
}
TABLE_FILE_NAMES["demo_oracle"] = "demo_oracle"
SUFFIXES = (".csv", ".txt", ".tsv", ".parquet")


def table_of(path: Path, table: str | None = None) -> str:
    """The canonical table a file holds, from --table or its name."""
    if table is not None:
        if table not in TABLES:
            raise ImportRejected.one(
                str(path), "table", f"unknown table {table!r}; one of {', '.join(TABLES)}"
            )
        return table
    stem = path.name.split(".")[0].lower()
    if stem not in TABLE_FILE_NAMES:
        raise ImportRejected(str(path), [RowProblem(
            str(path), None, "file name",
            f"does not name a table; call it one of {', '.join(sorted(set(TABLE_FILE_NAMES)))} "
            "(.csv or .parquet), or pass --table")])  # fmt: skip
    return TABLE_FILE_NAMES[stem]


def canonical_files(paths: Sequence[Path]) -> list[Path]:
    """Expand directories into the table files they hold."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.suffix.lower() in SUFFIXES
                           and p.name.split(".")[0].lower() in TABLE_FILE_NAMES)  # fmt: skip
            if not found:
                raise ImportRejected.one(
                    str(path), "directory", "holds no table file (invoices.csv, customers.csv, ...)"
                )
            files.extend(found)
        else:
            files.append(path)
    return files


def read_canonical_file(
    path: Path,
    table: str | None = None,
    *,
    separator: str | None = None,
    encoding: str | None = None,
    options: ParseOptions | None = None,
) -> tuple[str, pd.DataFrame, str]:
    """(table name, typed rows, content hash) of one canonical file."""
    name = table_of(path, table)
    spec = TABLES[name]
    if path.suffix.lower() == ".parquet":
        raw = _read_parquet(path)
        sha256 = file_sha256(path)
    else:
        text = read_delimited(path, separator=separator, encoding=encoding)
        raw, sha256 = text.frame, text.sha256
    return name, parse_table(spec, raw, str(path), options), sha256


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        table: pa.Table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ImportRejected.one(
            str(path), "file", f"is not a readable Parquet file: {error}"
        ) from None
    if table.num_rows == 0:
        raise ImportRejected.one(str(path), "file", "has no rows")
    return with_row_numbers(table.to_pandas(), first_row=1)


def import_canonical(
    store: LedgerStore,
    paths: Sequence[Path],
    *,
    today: date,
    table: str | None = None,
    separator: str | None = None,
    encoding: str | None = None,
    progress: Progress = no_progress,
) -> WriteReport:
    """Import canonical files (or directories of them) in one atomic write."""
    files = canonical_files(paths)
    typed: dict[str, pd.DataFrame] = {}
    hashes = []
    problems: list[ImportRejected] = []
    for position, path in enumerate(files):
        progress(f"reading {path.name}", position / len(files))
        try:
            name, frame, sha256 = read_canonical_file(
                path, table, separator=separator, encoding=encoding
            )
        except ImportRejected as rejected:
            problems.append(rejected)
            continue
        # Two files of one table (invoices.2023.csv, invoices.2024.csv) are imported as one;
        # their rows keep the numbers they have in their own file.
        typed[name] = pd.concat([typed[name], frame], ignore_index=True) if name in typed else frame
        hashes.append(sha256)
    if problems:
        merged = [p for rejected in problems for p in rejected.problems]
        raise ImportRejected(", ".join(str(p) for p in paths), merged,
                             total=sum(r.total for r in problems))  # fmt: skip
    source = ", ".join(str(p) for p in files)
    combined = hashlib.sha256("".join(hashes).encode()).hexdigest()
    return land(store, typed, source, kind="canonical", sha256=combined, today=today,
                progress=progress)  # fmt: skip
