"""Reading delimited text files the way users actually have them.

Encodings (UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252 from French Excel),
separators (comma, semicolon, tab, pipe) and broken files (empty, binary, cut off, rows with the
wrong number of fields) are detected here and reported with the file and row, before any
importer looks at the values.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from features.errors import ImportRejected, RowProblem
from features.schemas import ROW

SEPARATORS = (",", ";", "\t", "|")
_TRAILING = "_trailing_separator"  # the unnamed column opened by a separator ending each line
_SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Bytes that Windows-1252 leaves undefined: their presence means it is not that encoding.
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


@dataclass(frozen=True, slots=True)
class DelimitedText:
    """A delimited file read as text columns, with its row numbers and what was detected."""

    frame: pd.DataFrame  # every column as text, plus ROW (the line number of each row)
    encoding: str
    separator: str
    sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_encoding(path: Path, data: bytes, requested: str | None = None) -> str:
    """The file's encoding: the one requested (checked), else from a BOM, UTF-8 or Windows-1252."""
    name = str(path)
    if requested:
        try:
            codec = codecs.lookup(requested).name
        except LookupError:
            raise ImportRejected.one(
                name, "encoding", f"unknown encoding {requested!r}; use e.g. utf-8, cp1252, latin-1"
            ) from None
        try:
            data.decode(codec)
        except UnicodeDecodeError as error:
            raise ImportRejected(
                name,
                [
                    RowProblem(
                        name,
                        data.count(b"\n", 0, error.start) + 1,
                        "encoding",
                        f"is not valid {requested}: {error.reason} at byte {error.start}",
                    )
                ],
            ) from None
        return codec
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in data[:65536]:
        raise ImportRejected(name, [RowProblem(name, None, "encoding",
                                               "contains NUL bytes: this is a binary file or "
                                               "UTF-16 without a byte-order mark; save it as "
                                               "UTF-8 text or pass --encoding")])  # fmt: skip
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        utf8_error = error
    if not _CP1252_UNDEFINED.intersection(data):
        return "cp1252"
    raise ImportRejected(name, [RowProblem(
        name, data.count(b"\n", 0, utf8_error.start) + 1, "encoding",
        "the file is neither UTF-8 nor Windows-1252; pass the encoding it was saved in "
        "(--encoding)")])  # fmt: skip


def sniff_separator(header: str) -> str:
    """The separator the header line uses most, outside quotes."""
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    if counts[best] == 0:
        return ","  # a single column: the schema check will say which columns are missing
    return best


def read_delimited(
    path: Path,
    *,
    separator: str | None = None,
    encoding: str | None = None,
    skip_rows: int = 0,
) -> DelimitedText:
    """Read a delimited text file as text columns, refusing broken files with precise messages."""
    name = str(path)
    if not path.exists():
        raise ImportRejected.one(name, "file", "does not exist")
    data = path.read_bytes()
    if not data.strip():
        raise ImportRejected.one(name, "file", "is empty")
    codec = detect_encoding(path, data, encoding)
    text_start = data.decode(codec, errors="replace")[:65536]
    lines = text_start.splitlines()[skip_rows:]
    if not lines:
        raise ImportRejected.one(name, "file", "has no header line")
    sep = separator or sniff_separator(lines[0])
    header = [h.strip().lstrip("\ufeff") for h in _fields(lines[0], sep)]
    trailing = _ends_with_separator(header, lines[1:2], sep)
    if header and not header[-1] and trailing:
        header.pop()
    _check_header(name, header)
    columns = [*header, _TRAILING] if trailing else header
    table = _parse_with_arrow(name, data, codec, sep, columns, skip_rows)
    if table.num_rows == 0:
        raise ImportRejected.one(name, "file", "has a header but no rows")
    frame = table.to_pandas()
    frame.columns = columns
    first_row = 2 + skip_rows
    frame[ROW] = range(first_row, first_row + len(frame))
    if trailing:
        frame = _without_trailing_column(name, frame)
    return DelimitedText(frame, codec, sep, hashlib.sha256(data).hexdigest())


def _fields(line: str, separator: str) -> list[str]:
    return next(csv.reader([line], delimiter=separator), [])


def _ends_with_separator(header: list[str], first_rows: list[str], sep: str) -> bool:
    """Some exports end every line with the separator, which opens an unnamed last column."""
    if len(header) > 1 and not header[-1]:
        return True
    first = _fields(first_rows[0], sep) if first_rows else []
    return len(first) == len(header) + 1 and not first[-1].strip()


def _without_trailing_column(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Drop the column a trailing separator opens, provided nothing was written in it."""
    filled = frame[_TRAILING].str.strip() != ""
    if filled.any():
        rows = frame.loc[filled, ROW]
        raise ImportRejected(name, [
            RowProblem(name, int(row), f"column {len(frame.columns) - 1}",
                       "holds a value but has no name in the header", str(value))
            for row, value in zip(rows[:1000], frame.loc[filled, _TRAILING][:1000], strict=True)
        ], total=int(filled.sum()))  # fmt: skip
    return frame.drop(columns=_TRAILING)


def _check_header(name: str, header: list[str]) -> None:
    seen: set[str] = set()
    for position, column in enumerate(header, start=1):
        if not column:
            raise ImportRejected(name, [RowProblem(name, 1, f"column {position}",
                                                   "has an empty name in the header")])  # fmt: skip
        if column in seen:
            raise ImportRejected(name, [RowProblem(name, 1, column,
                                                   "appears twice in the header")])  # fmt: skip
        seen.add(column)


def _parse_with_arrow(
    name: str, data: bytes, codec: str, sep: str, header: list[str], skip_rows: int
) -> pa.Table:
    bad_rows: list[RowProblem] = []

    def on_bad_row(row: pacsv.InvalidRow) -> str:
        line = row.number + skip_rows if row.number is not None else None
        cut = " (the file may be cut off)" if row.actual_columns < row.expected_columns else ""
        if row.expected_columns == 1:
            cut = f" (the header was read as one column with the separator {sep!r}: is it right?)"
        bad_rows.append(RowProblem(name, line, "row",
                                   f"has {row.actual_columns} fields, the header has "
                                   f"{row.expected_columns}{cut}"))  # fmt: skip
        return "skip"

    column_names = [f"c{i}" for i in range(len(header))]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                encoding=codec.replace("-sig", "") if codec != "utf-8-sig" else "utf-8",
                skip_rows=skip_rows + 1,
                column_names=column_names,
                use_threads=False,
                block_size=1 << 24,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=sep,
                quote_char='"',
                newlines_in_values=True,
                invalid_row_handler=on_bad_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(column_names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as error:
        message = str(error).split("\n")[0]
        hint = ""
        if "quote" in message.lower() or "eof" in message.lower():
            hint = " (an unclosed quote: the file may be cut off)"
        raise ImportRejected(
            name, [RowProblem(name, None, "file", f"cannot be parsed: {message}{hint}")]
        ) from None
    if bad_rows:
        raise ImportRejected(name, bad_rows[:1000], total=len(bad_rows))
    return table


def separator_name(separator: str) -> str:
    return _SEPARATOR_NAMES.get(separator, repr(separator))
