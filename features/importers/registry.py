"""Importers of public French company data: the company search API, INPI accounts, BODACC.

No network here: each importer reads a file in the shape its public source publishes (a saved
API response, a bulk export; one JSON document or JSON Lines) and lands canonical rows through
`land`, so every rule of the canonical tables holds and an import lands whole or not at all.

Each source has a pure `read_*` (file -> typed frames keyed by table name, ROW = the record's
position in the file, 1-based) and an `import_*` that also writes. What a reader skips or
estimates is said in the frames' `notes`, which end up in the write report.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import ImportRejected, RowProblem
from features.importers.landing import Progress, land, no_progress
from features.ledger import LedgerStore, WriteReport
from features.ledger_tables import ledger_tables
from features.schemas import COMPANY, FINANCIAL_STATEMENT, LEGAL_EVENT, ROW, TableSpec

__all__ = [
    "BODACC_SOURCE",
    "COMPANY_SEARCH_SOURCE",
    "INPI_SOURCE",
    "LINE_CODES",
    "LiasseLines",
    "RegistryFrames",
    "company_search_frames",
    "import_bodacc_notices",
    "import_company_search",
    "import_company_search_results",
    "import_inpi_accounts",
    "judgment_kind",
    "read_bodacc_notices",
    "read_company_search",
    "read_inpi_accounts",
]

COMPANY_SEARCH_SOURCE = "company_search"
INPI_SOURCE = "inpi"
BODACC_SOURCE = "bodacc"
MAX_LISTED = 10  # how many distinct unknown values a note lists


class RegistryFrames(dict[str, pd.DataFrame]):
    """Typed frames keyed by table name, with what the reader skipped or estimated."""

    def __init__(
        self, frames: Mapping[str, pd.DataFrame], notes: Sequence[str] = (), sha256: str = ""
    ) -> None:
        super().__init__(frames)
        self.notes = list(notes)
        self.sha256 = sha256


# ---- reading JSON files --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _NotJsonNumber:
    """NaN or Infinity: Python's json reads them but JSON has no such numbers; kept to report."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class _Problems:
    """Every problem of a file, gathered so that one rejection lists them all."""

    source: str
    found: list[RowProblem] = field(default_factory=list)

    def add(self, record: int | None, where: str, reason: str, value: object = None) -> None:
        self.found.append(RowProblem(self.source, record, where, reason, _shown(value)))

    def raise_if_any(self) -> None:
        if self.found:
            raise ImportRejected(self.source, self.found[:1000], total=len(self.found))


def _shown(value: object) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _reject(source: str, where: str, reason: str) -> ImportRejected:
    return ImportRejected(source, [RowProblem(source, None, where, reason)])


def _read_text(path: Path) -> tuple[str, str]:
    """The file as text and its SHA-256; JSON is UTF-8 (a BOM is tolerated)."""
    source = str(path)
    if not path.is_file():
        raise _reject(source, "file", "does not exist")
    data = path.read_bytes()
    if not data.strip():
        raise _reject(source, "file", "is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise _reject(source, "file", f"is not UTF-8 text, as JSON must be: invalid byte at "
                                      f"line {line} (byte {error.start})") from None  # fmt: skip
    return text, hashlib.sha256(data).hexdigest()


def _json_error(
    source: str, error: json.JSONDecodeError, line: int | None = None
) -> ImportRejected:
    where = f"line {line or error.lineno}, column {error.colno}"
    return _reject(source, "file", f"is not valid JSON: {error.msg} at {where}")


def _json_documents(source: str, text: str) -> list[object]:
    """The file's JSON values: one document, or one per line (JSON Lines)."""
    try:
        return [json.loads(text, parse_constant=_NotJsonNumber)]
    except json.JSONDecodeError as error:
        whole_file_error = error
    if whole_file_error.msg != "Extra data":
        raise _json_error(source, whole_file_error)
    # Only "more after the first value" suggests JSON Lines; a first line that is not JSON by
    # itself means one document followed by garbage, which the whole-file error describes.
    lines = text.split("\n")  # not splitlines(): U+2028 may sit inside a JSON string
    documents: list[object] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line, parse_constant=_NotJsonNumber))
        except json.JSONDecodeError as error:
            if not documents:
                raise _json_error(source, whole_file_error) from None
            raise _json_error(source, error, line=number) from None
    return documents


def _flatten(value: object, containers: tuple[str, ...]) -> Iterator[object]:
    """Records inside lists and inside API envelopes ({"results": [...]}), in file order."""
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item, containers)
        return
    if isinstance(value, dict):
        key = next((k for k in containers if k in value), None)
        if key is not None:
            if value[key] is not None:
                yield from _flatten(value[key], containers)
            return
    yield value


def _load_records(path: Path, containers: tuple[str, ...]) -> tuple[list[object], str]:
    text, sha256 = _read_text(path)
    documents = _json_documents(str(path), text)
    return [r for document in documents for r in _flatten(document, containers)], sha256


# ---- reading values ------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def _as_object(record: object, n: int, problems: _Problems) -> dict[str, object] | None:
    if isinstance(record, dict):
        return record
    kind = type(record).__name__ if record is not None else "null"
    problems.add(n, "record", f"is not a JSON object (found {kind})", record)
    return None


def _text(
    record: Mapping[str, object], key: str, n: int, problems: _Problems, *, where: str = ""
) -> str | None:
    """A text field; numbers are accepted as their digits (SIRENs and codes arrive as both)."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.add(n, where or key, "is not text", value)
        return None
    return str(value).strip() or None


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _required_text(
    record: Mapping[str, object], key: str, n: int, problems: _Problems, *, what: str
) -> str | None:
    if _is_blank(record.get(key)):
        problems.add(n, key, f"is missing or empty (every {what} has it)")
        return None
    return _text(record, key, n, problems)


def _required_date(
    record: Mapping[str, object], key: str, n: int, problems: _Problems, *, what: str
) -> date | None:
    if _is_blank(record.get(key)):
        problems.add(n, key, f"is missing or empty (every {what} has it)")
        return None
    return _date(record.get(key), n, key, problems)


def _siren_text(value: str | None) -> str | None:
    """Spaces removed; whether it is a valid SIREN is the canonical schema's business."""
    return re.sub(r"[\s\u00a0]", "", value) if value else None


def _date(value: object, n: int, where: str, problems: _Problems) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(n, where, "is not a date in the format YYYY-MM-DD", value)
    return None


def _amount(value: object, n: int, where: str, problems: _Problems) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _NUMBER.fullmatch(text):
            return float(text)
    problems.add(n, where, "is not a number", value)
    return None


def _nested(
    record: Mapping[str, object], path: Sequence[str], n: int, problems: _Problems
) -> object:
    """record[path[0]][path[1]]...; None when absent, reported when a level is not an object."""
    value: object = record
    for depth, key in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, dict):
            problems.add(n, ".".join(path[:depth]), "is not a JSON object", value)
            return None
        value = value.get(key)
    return value


def _json_object(
    value: object, n: int, where: str, problems: _Problems
) -> dict[str, object] | None:
    """A field that is an object, or the JSON text of one (BODACC exports store them as text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            problems.add(n, where, f"is not valid JSON: {error.msg} at column {error.colno}", value)
            return None
    if not isinstance(value, dict):
        problems.add(n, where, "is not a JSON object", value)
        return None
    return value


# ---- typed frames --------------------------------------------------------------------------


def _typed_frame(spec: TableSpec, rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """Canonical columns with their dtypes, plus ROW; absent values are missing."""
    columns: dict[str, pd.Series] = {}
    for spec_field in spec.fields:
        values = [row.get(spec_field.name) for row in rows]
        columns[spec_field.name] = _typed_column(spec_field.kind, values)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))
    frame[ROW] = np.array([row[ROW] for row in rows], dtype=np.int64)
    return frame


def _typed_column(kind: str, values: list[object]) -> pd.Series:
    match kind:
        case "date":
            # datetime64[s] holds any year, so an absurd date is reported, not an overflow.
            stamps = [v.isoformat() if isinstance(v, date) else "NaT" for v in values]
            return pd.Series(np.array(stamps, dtype="datetime64[s]"))
        case "float":
            return pd.Series(values, dtype="float64")
        case "int":
            return pd.Series(values, dtype="Int64")
        case "bool":
            return pd.Series(values, dtype="boolean")
    return pd.Series(values, dtype="string")


def _in_source_terms(rejected: ImportRejected, names: Mapping[str, str]) -> ImportRejected:
    """The same rejection, naming the source's own fields beside the canonical ones."""
    renamed = [
        RowProblem(p.file, p.row, f"{names[p.field]} ({p.field})", p.reason, p.value)
        if p.field in names else p
        for p in rejected.problems
    ]  # fmt: skip
    return type(rejected)(rejected.source, renamed, total=rejected.total)


def _land(
    store: LedgerStore,
    frames: RegistryFrames,
    source: str,
    *,
    kind: str,
    today: date,
    progress: Progress,
    names: Mapping[str, str],
) -> WriteReport:
    try:
        return land(store, frames, source, kind=kind, sha256=frames.sha256, today=today,
                    progress=progress, notes=frames.notes)  # fmt: skip
    except ImportRejected as rejected:
        raise _in_source_terms(rejected, names) from None


def _counted(counts: Counter[str]) -> str:
    listed = ", ".join(f"{name!r} ({count})" for name, count in counts.most_common(MAX_LISTED))
    more = len(counts) - MAX_LISTED
    return listed + (f" and {more} more" if more > 0 else "")


# ---- 1. company search API (recherche-entreprises.api.gouv.fr /search) ----------------------

# The API gives a year, not a closing date, and no filing date. Accounts are approved within
# 6 months of the year end and filed within 1 month of approval (Code de commerce L.232-21 ff.),
# so they are public at the latest 7 months after the year end. Assuming 31 December errs late
# for other closing dates, which is the safe side for point-in-time features.
PUBLICATION_DELAY_MONTHS = 7
_SEARCH_FIELD_NAMES = {
    "name": "nom_complet",
    "legal_form": "nature_juridique",
    "naf_code": "activite_principale",
    "creation_date": "date_creation",
    "share_capital": "capital_social",
    "headcount_band": "tranche_effectif_salarie",
    "status": "etat_administratif",
    "ceased_date": "date_fermeture",
    "fiscal_year_end": "finances (year)",
    "revenue": "finances.ca",
    "net_income": "finances.resultat_net",
}
_STATUSES = {"A": "active", "C": "ceased"}
SOLE_TRADER_LEGAL_FORM = "1000"  # INSEE category 1000: entrepreneur individuel


def read_company_search(path: Path, *, today: date) -> RegistryFrames:
    """Company and statement rows from saved company search responses (JSON or JSON Lines)."""
    records, sha256 = _load_records(path, ("results",))
    frames = company_search_frames(records, str(path), today=today)
    frames.sha256 = sha256
    return frames


def company_search_frames(results: Sequence[object], source: str, *, today: date) -> RegistryFrames:
    """Company and statement rows from company search results (a file's or a live lookup's)."""
    problems = _Problems(source)
    skipped: Counter[str] = Counter()
    companies: list[dict[str, object]] = []
    statements: list[dict[str, object]] = []
    for n, result in enumerate(results, start=1):
        record = _as_object(result, n, problems)
        if record is None:
            continue
        company = _search_company(record, n, problems, skipped)
        companies.append(company)
        statements += _search_statements(record, company["siren"], n, today, problems, skipped)
    problems.raise_if_any()
    notes = _search_notes(len(statements), skipped)
    frames = {
        "company": _typed_frame(COMPANY, companies),
        "financial_statement": _typed_frame(FINANCIAL_STATEMENT, statements),
    }
    return RegistryFrames(frames, notes)


def _search_company(
    record: dict[str, object], n: int, problems: _Problems, skipped: Counter[str]
) -> dict[str, object]:
    siren = _required_text(record, "siren", n, problems, what="company search result")
    name = _text(record, "nom_complet", n, problems)
    name = name or _text(record, "nom_raison_sociale", n, problems)
    if name is None:
        problems.add(n, "nom_complet", "is missing, and so is nom_raison_sociale")
    legal_form = _text(record, "nature_juridique", n, problems)
    naf_code = _text(record, "activite_principale", n, problems)
    nomenclature = _text(record, "nomenclature_activite_principale", n, problems)
    if naf_code and nomenclature and nomenclature.upper() != "NAFREV2":
        # Ceased companies keep codes of older nomenclatures (NAF rev. 1, NAP), not comparable.
        skipped["old_naf"] += 1
        naf_code = None
    return {
        ROW: n,
        "siren": _siren_text(siren),
        "name": name,
        "legal_form": legal_form,
        "naf_code": naf_code,
        "creation_date": _date(record.get("date_creation"), n, "date_creation", problems),
        "share_capital": _amount(record.get("capital_social"), n, "capital_social", problems),
        "headcount_band": _text(record, "tranche_effectif_salarie", n, problems),
        "is_sole_trader": _is_sole_trader(record, legal_form, n, problems),
        "status": _status(record, n, problems),
        "ceased_date": _date(record.get("date_fermeture"), n, "date_fermeture", problems),
    }


def _is_sole_trader(
    record: dict[str, object], legal_form: str | None, n: int, problems: _Problems
) -> bool:
    flag = _nested(record, ("complements", "est_entrepreneur_individuel"), n, problems)
    if flag is None:
        return legal_form == SOLE_TRADER_LEGAL_FORM
    if not isinstance(flag, bool):
        problems.add(n, "complements.est_entrepreneur_individuel", "is not true or false", flag)
        return False
    return flag


def _status(record: dict[str, object], n: int, problems: _Problems) -> str | None:
    code = _text(record, "etat_administratif", n, problems)
    if code is None:
        return None
    if code.upper() not in _STATUSES:
        problems.add(n, "etat_administratif", "must be A (active) or C (ceased)", code)
        return None
    return _STATUSES[code.upper()]


def _search_statements(
    record: dict[str, object],
    siren: object,
    n: int,
    today: date,
    problems: _Problems,
    skipped: Counter[str],
) -> list[dict[str, object]]:
    finances = record.get("finances")
    if finances is None:
        return []
    if not isinstance(finances, dict):
        problems.add(n, "finances", "is not an object keyed by year", finances)
        return []
    rows = []
    for year, figures in finances.items():
        amounts = _search_year(year, figures, n, today, problems)
        if amounts is None:
            continue
        if all(value is None for value in amounts.values()):
            skipped["empty_year"] += 1
            continue
        rows.append({ROW: n, "siren": siren, "fiscal_year_end": date(int(year), 12, 31),
                     "publication_date": _estimated_publication(int(year), today),
                     "confidential": False, **amounts,
                     "source": COMPANY_SEARCH_SOURCE})  # fmt: skip
    return rows


def _search_year(
    year: str, figures: object, n: int, today: date, problems: _Problems
) -> dict[str, float | None] | None:
    """Revenue and net income of one year of `finances`; None when the year is unusable."""
    where = f"finances.{year}"
    if not re.fullmatch(r"(?:19|20)\d{2}", year):
        problems.add(n, "finances", "has a key that is not a year from 1900 to 2099", year)
        return None
    if date(int(year), 12, 31) >= today:
        problems.add(n, where, f"is a fiscal year that has not ended by {today.isoformat()}")
        return None
    if figures is None:
        return {}
    if not isinstance(figures, dict):
        problems.add(n, where, "is not an object with ca and resultat_net", figures)
        return None
    return {
        "revenue": _amount(figures.get("ca"), n, f"{where}.ca", problems),
        "net_income": _amount(figures.get("resultat_net"), n, f"{where}.resultat_net", problems),
    }


def _estimated_publication(year: int, today: date) -> date:
    """31 December + 7 months, but never after today: a figure seen today was public today."""
    deadline = pd.Timestamp(year, 12, 31) + pd.DateOffset(months=PUBLICATION_DELAY_MONTHS)
    return min(deadline.date(), today)


def _search_notes(statements: int, skipped: Counter[str]) -> list[str]:
    notes = []
    if statements:
        notes.append(
            f"{statements} financial statement(s) from the company search: fiscal years are "
            f"taken to end on 31 December and publication dates are estimates (year end + "
            f"{PUBLICATION_DELAY_MONTHS} months, the legal filing deadline, or today if earlier)"
        )
    if skipped["empty_year"]:
        notes.append(f"{skipped['empty_year']} year(s) of finances without any figure skipped")
    if skipped["old_naf"]:
        notes.append(f"{skipped['old_naf']} activity code(s) of an older nomenclature than NAF "
                     "rev. 2 left empty")  # fmt: skip
    return notes


def import_company_search(
    store: LedgerStore, path: Path, *, today: date, progress: Progress = no_progress
) -> WriteReport:
    """Import saved company search responses: companies and their headline figures."""
    progress("reading", 0.0)
    frames = read_company_search(path, today=today)
    return _land_company_search(store, frames, str(path), today=today, progress=progress)


def import_company_search_results(
    store: LedgerStore,
    results: Sequence[object],
    source: str,
    *,
    today: date,
    progress: Progress = no_progress,
) -> WriteReport:
    """Import results of a live lookup (`CompanySearchClient`) exactly as a saved file's."""
    frames = company_search_frames(results, source, today=today)
    frames.sha256 = hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()
    return _land_company_search(store, frames, source, today=today, progress=progress)


def _land_company_search(
    store: LedgerStore, frames: RegistryFrames, source: str, *, today: date, progress: Progress
) -> WriteReport:
    statements, notes = _defer_to_stored_statements(store, frames["financial_statement"])
    frames["financial_statement"] = statements
    frames.notes += notes
    return _land(store, frames, source, kind=COMPANY_SEARCH_SOURCE, today=today,
                 progress=progress, names=_SEARCH_FIELD_NAMES)  # fmt: skip


def _defer_to_stored_statements(
    store: LedgerStore, statements: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """Statements stored from filed accounts win over the API's summary of them; and an
    estimated publication date only moves earlier (seen earlier means public earlier)."""
    if statements.empty:
        return statements, []
    stored = _stored_statements(store, sorted(set(statements["siren"].dropna())))
    if stored.empty:
        return statements, []
    keys = ["siren", "fiscal_year_end"]
    stored = stored[[*keys, "publication_date", "source"]].rename(
        columns={"publication_date": "stored_publication", "source": "stored_source"})  # fmt: skip
    merged = statements.merge(stored, on=keys, how="left")
    elsewhere = merged["stored_source"].notna() & (merged["stored_source"] != COMPANY_SEARCH_SOURCE)
    earlier = (merged["stored_publication"] < merged["publication_date"]).fillna(False)
    merged.loc[earlier, "publication_date"] = merged.loc[earlier, "stored_publication"]
    kept = merged.loc[~elsewhere.astype(bool), statements.columns].reset_index(drop=True)
    notes = []
    if elsewhere.any():
        notes.append(f"{int(elsewhere.sum())} statement(s) skipped: already stored from "
                     "filed accounts or the canonical layout, which are more precise")  # fmt: skip
    return kept, notes


def _stored_statements(store: LedgerStore, sirens: list[str]) -> pd.DataFrame:
    table = ledger_tables["financial_statement"]
    chunks = [
        store.read("financial_statement", where=table.c.siren.in_(sirens[i : i + 500]))
        for i in range(0, len(sirens), 500)
    ]
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


# ---- 2. INPI annual accounts (RNE "bilans saisis") -----------------------------------------


@dataclass(frozen=True, slots=True)
class LiasseLines:
    """Tax-form lines whose current-year figures add up to one statement field.

    The forms put the current year in different columns. Assets (2050, 2033-A actif): m1 gross,
    m2 depreciation, m3 net, m4 net N-1. Liabilities (2051, 2033-A passif), 2053 and 2033-B:
    m1 N, m2 N-1. The turnover lines of 2052: m1 France, m2 export, m3 total N, m4 total N-1.
    """

    codes: tuple[str, ...]
    columns: tuple[str, ...]


# For each field, the first alternative of which at least one line is present gives the value.
# Amounts are whole euros. "complete" is the régime réel normal (liasse 2050-2057),
# "simplified" the régime simplifié (2033-A balance sheet, 2033-B income statement).
LINE_CODES: dict[str, dict[str, tuple[LiasseLines, ...]]] = {
    "complete": {
        "revenue": (
            LiasseLines(("FL",), ("m3",)),  # 2052 FL chiffre d'affaires net, total column
            LiasseLines(("FL",), ("m1", "m2")),  # FL without its total: France + export
        ),
        "net_income": (LiasseLines(("HN",), ("m1",)),),  # 2053 HN bénéfice ou perte
        "equity": (LiasseLines(("DL",), ("m1",)),),  # 2051 DL total (I) capitaux propres
        "total_assets": (
            LiasseLines(("EE",), ("m1",)),  # 2051 EE total général du passif (= total actif)
            LiasseLines(("CO",), ("m3",)),  # 2050 CO total général de l'actif, net
        ),
        "total_debt": (LiasseLines(("EC",), ("m1",)),),  # 2051 EC total (IV) dettes
        "current_assets": (LiasseLines(("CJ",), ("m3",)),),  # 2050 CJ total (II) actif circulant
        # Approximation: the form does not split debts by maturity. Operating debts are short
        # term by nature: DX fournisseurs, DY dettes fiscales et sociales, DZ dettes sur
        # immobilisations, EA autres dettes. Bank debt (DU, DV) mixes terms and is left out.
        "current_liabilities": (LiasseLines(("DX", "DY", "DZ", "EA"), ("m1",)),),
        "cash": (LiasseLines(("CF",), ("m3",)),),  # 2050 CF disponibilités, net
        "trade_receivables": (LiasseLines(("BX",), ("m3",)),),  # 2050 BX clients, net
        "trade_payables": (LiasseLines(("DX",), ("m1",)),),  # 2051 DX dettes fournisseurs
    },
    "simplified": {
        # 2033-B has no turnover total: 210 ventes de marchandises, 214 production vendue de
        # biens, 218 production vendue de services add up to the net turnover.
        "revenue": (LiasseLines(("210", "214", "218"), ("m1",)),),
        "net_income": (LiasseLines(("310",), ("m1",)),),  # 2033-B 310 bénéfice ou perte
        "equity": (LiasseLines(("142",), ("m1",)),),  # 2033-A 142 total (I) capitaux propres
        "total_assets": (
            LiasseLines(("180",), ("m1",)),  # 2033-A 180 total général du passif
            LiasseLines(("110",), ("m3",)),  # 2033-A 110 total général de l'actif, net
        ),
        "total_debt": (LiasseLines(("176",), ("m1",)),),  # 2033-A 176 total (III) dettes
        "current_assets": (LiasseLines(("096",), ("m3",)),),  # 2033-A 096 total (II), net
        # Approximation as above: 166 fournisseurs and 172 autres dettes (which on this form
        # include tax and social debts). 156 emprunts mixes terms; 169 is a "dont" (part of
        # 172) line and would count twice.
        "current_liabilities": (LiasseLines(("166", "172"), ("m1",)),),
        "cash": (LiasseLines(("084",), ("m3",)),),  # 2033-A 084 disponibilités, net
        "trade_receivables": (LiasseLines(("068",), ("m3",)),),  # 2033-A 068 clients, net
        "trade_payables": (LiasseLines(("166",), ("m1",)),),  # 2033-A 166 fournisseurs
    },
}
_REGIMES = {"C": "complete", "S": "simplified"}
CONSOLIDATED = "K"  # group accounts: not the legal unit's own figures
_INPI_FIELD_NAMES = {
    "fiscal_year_end": "dateCloture",
    "publication_date": "dateDepot",
    "duration_months": "dureeExercice",
}
_LIASSES = ("bilanSaisi", "bilan", "detail", "pages")
_IDENTITY = ("bilanSaisi", "bilan", "identite")


def read_inpi_accounts(path: Path) -> RegistryFrames:
    """Statement rows from INPI annual accounts (a JSON array, API response or JSON Lines)."""
    records, sha256 = _load_records(path, ("bilansSaisis", "results"))
    source = str(path)
    problems = _Problems(source)
    skipped: Counter[str] = Counter()
    rows = []
    for n, raw in enumerate(records, start=1):
        record = _as_object(raw, n, problems)
        row = _inpi_statement(record, n, problems, skipped) if record is not None else None
        if row is not None:
            rows.append(row)
    problems.raise_if_any()
    frame, superseded = _latest_filings(_typed_frame(FINANCIAL_STATEMENT, rows))
    notes = _inpi_notes(skipped, superseded)
    return RegistryFrames({"financial_statement": frame}, notes, sha256)


def _inpi_statement(
    record: dict[str, object], n: int, problems: _Problems, skipped: Counter[str]
) -> dict[str, object] | None:
    if record.get("deleted") is True:
        skipped["deleted"] += 1  # withdrawn by the registry
        return None
    siren = _required_text(record, "siren", n, problems, what="INPI account")
    closing = _required_date(record, "dateCloture", n, problems, what="INPI account")
    filed = _required_date(record, "dateDepot", n, problems, what="INPI account")
    identity = _nested(record, _IDENTITY, n, problems)
    identity = identity if isinstance(identity, dict) else {}
    lines = _liasse_lines(record, n, problems)
    regime = _regime(record, identity, lines, n, problems, skipped)
    if regime is None:
        return None
    confidentiality = _confidentiality(record, n, problems)
    withheld = confidentiality == "full" or not lines
    if withheld:
        skipped["confidential" if confidentiality else "without figures"] += 1
    amounts: dict[str, float | None] = {}
    if not withheld:
        amounts = {name: _line_total(lines, ways) for name, ways in LINE_CODES[regime].items()}
    return {ROW: n, "siren": _siren_text(siren), "fiscal_year_end": closing,
            "publication_date": filed, "confidential": confidentiality is not None or not lines,
            "duration_months": _duration(identity, n, problems), **amounts,
            "source": INPI_SOURCE}  # fmt: skip


def _liasse_lines(
    record: dict[str, object], n: int, problems: _Problems
) -> dict[str, dict[str, float]]:
    """Line code -> {column: amount} over every page of the form."""
    pages = _nested(record, _LIASSES, n, problems)
    if pages is None:
        return {}
    if not isinstance(pages, list):
        problems.add(n, ".".join(_LIASSES), "is not a list of pages", pages)
        return {}
    lines: dict[str, dict[str, float]] = {}
    for page in pages:
        items = page.get("liasses") if isinstance(page, dict) else None
        if not isinstance(items, list):
            problems.add(n, "pages[].liasses", "is not a list", items)
            continue
        for item in items:
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, str) or not code.strip():
                problems.add(n, "liasses[].code", "is missing", item)
                continue
            code = code.strip().upper()
            code = code.zfill(3) if code.isdigit() else code  # "68" and "068" are one line
            figures = _line_figures(item, code, n, problems)
            if lines.get(code, figures) != figures:
                problems.add(n, f"liasse {code}", "appears twice with different figures")
            lines[code] = figures
    return lines


def _line_figures(
    item: Mapping[str, object], code: str, n: int, problems: _Problems
) -> dict[str, float]:
    figures = {}
    for column in ("m1", "m2", "m3", "m4"):
        value = _amount(item.get(column), n, f"liasse {code} {column}", problems)
        if value is not None:
            figures[column] = value
    return figures


def _regime(
    record: dict[str, object],
    identity: dict[str, object],
    lines: Mapping[str, object],
    n: int,
    problems: _Problems,
    skipped: Counter[str],
) -> str | None:
    kind = _text(record, "typeBilan", n, problems) or _text(identity, "codeTypeBilan", n, problems)
    if kind is None:
        # Complete forms use letter codes, simplified ones numbers.
        return "complete" if any(not code.isdigit() for code in lines) else "simplified"
    kind = kind.upper()
    if kind == CONSOLIDATED:
        skipped["consolidated"] += 1
        return None
    if kind not in _REGIMES:
        skipped[f"type {kind}"] += 1  # banks' and insurers' forms have other line codes
        return None
    return _REGIMES[kind]


def _confidentiality(record: dict[str, object], n: int, problems: _Problems) -> str | None:
    """None when public, "partial" (income statement withheld, balance sheet public), "full"."""
    flag = record.get("confidentiel")
    if isinstance(flag, bool):
        return "full" if flag else None
    text = _text(record, "confidentiality", n, problems)
    if text is None:
        return None
    folded = _folded(text)
    if folded == "public":
        return None
    if "partiel" in folded:
        return "partial"
    if folded.startswith("confidentiel"):
        return "full"
    problems.add(n, "confidentiality", "must be Public, Confidentiel or Partiellement "
                                       "confidentiel", text)  # fmt: skip
    return None


def _duration(identity: dict[str, object], n: int, problems: _Problems) -> int | None:
    key = "dureeExercice" if "dureeExercice" in identity else "dureeExerciceN"
    months = _amount(identity.get(key), n, f"identite.{key}", problems)
    if months is None:
        return None
    if months != int(months):
        problems.add(n, f"identite.{key}", "is not a whole number of months", months)
        return None
    return int(months)


def _line_total(
    lines: Mapping[str, Mapping[str, float]], ways: Sequence[LiasseLines]
) -> float | None:
    for way in ways:
        figures = [lines[code][column] for code in way.codes if code in lines
                   for column in way.columns if column in lines[code]]  # fmt: skip
        if figures:
            return float(sum(figures))
    return None


def _latest_filings(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One statement per company and year end: a later filing corrects an earlier one."""
    order = frame.sort_values(["publication_date", ROW], kind="stable")
    latest = ~order.duplicated(["siren", "fiscal_year_end"], keep="last")
    kept = order[latest].sort_values(ROW, kind="stable").reset_index(drop=True)
    return kept, int((~latest).sum())


def _inpi_notes(skipped: Counter[str], superseded: int) -> list[str]:
    notes = []
    if skipped["consolidated"]:
        notes.append(f"{skipped['consolidated']} consolidated account(s) skipped: group "
                     "figures, not the company's own")  # fmt: skip
    if skipped["deleted"]:
        notes.append(f"{skipped['deleted']} account(s) marked deleted by the registry skipped")
    if skipped["confidential"]:
        notes.append(f"{skipped['confidential']} confidential account(s) stored as confidential "
                     "without figures")  # fmt: skip
    if skipped["without figures"]:
        notes.append(f"{skipped['without figures']} account(s) filed without figures stored as "
                     "confidential (not published)")  # fmt: skip
    others = Counter({k.removeprefix("type "): v for k, v in skipped.items()
                      if k.startswith("type ")})  # fmt: skip
    if others:
        notes.append(f"{others.total()} account(s) of a type other than C (complete) or S "
                     f"(simplified) skipped: {_counted(others)}")  # fmt: skip
    if superseded:
        notes.append(f"{superseded} filing(s) replaced by a later filing for the same year end")
    return notes


def import_inpi_accounts(
    store: LedgerStore, path: Path, *, today: date, progress: Progress = no_progress
) -> WriteReport:
    """Import INPI annual accounts as financial statements (source "inpi")."""
    progress("reading", 0.0)
    frames = read_inpi_accounts(path)
    return _land(store, frames, str(path), kind=INPI_SOURCE, today=today, progress=progress,
                 names=_INPI_FIELD_NAMES)  # fmt: skip


# ---- 3. BODACC notices (annonces commerciales open data) -----------------------------------

INSOLVENCY_FAMILY = "collective"  # familleavis of "procédures collectives" notices
CANCELLED_NOTICE = "annulation"  # typeavis of a notice that cancels an earlier one
# Judgment natures, checked in order on the lower-cased text without accents. Order matters:
# a closure names the liquidation it closes, a plan names its proceeding. None: reported in
# the notes, never guessed (appeals overturning a judgment, a plan ended with no sequel).
_JUDGMENT_KINDS: tuple[tuple[re.Pattern[str], str | None], ...] = (
    (re.compile(r"\binfirm|\bannul|\bretract|mettant fin"), None),
    (re.compile(r"\bcloture\b|extinction du passif|insuffisance d'actif"), "cloture"),
    (re.compile(r"\bliquidation\b"), "liquidation"),  # incl. simplifiée, conversion into one
    (re.compile(r"\b(?:ouverture|ouvrant)\b.*\bredressement\b"), "redressement"),
    (re.compile(r"\bresolution du plan\b"), None),
    (re.compile(r"\bplan\b"), "plan"),  # arrêt, adoption or change of a plan
    (re.compile(r"\bredressement\b"), "redressement"),
    (re.compile(r"\bsauvegarde\b"), "sauvegarde"),  # incl. accélérée
    (re.compile(r"\bconciliation\b"), "conciliation"),
)
_BODACC_FIELD_NAMES = {
    "event_id": "id",
    "siren": "registre",
    "event_date": "jugement.date",
    "kind": "jugement.nature",
}


def _folded(text: str) -> str:
    """Lower case without accents, typographic apostrophes made plain."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\u2019", "'").lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def judgment_kind(nature: str) -> str | None:
    """The legal event kind of a BODACC judgment nature, or None when it is not one of them."""
    folded = _folded(nature)
    for pattern, kind in _JUDGMENT_KINDS:
        if pattern.search(folded):
            return kind
    return None


def read_bodacc_notices(path: Path) -> RegistryFrames:
    """Legal events from BODACC notices (export list, JSON Lines or API response)."""
    records, sha256 = _load_records(path, ("results", "records"))
    problems = _Problems(str(path))
    skipped: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    rows = []
    for n, raw in enumerate(records, start=1):
        notice = _as_object(raw, n, problems)
        fields = notice.get("fields") if notice is not None else None
        if notice is not None and isinstance(fields, dict) and "id" not in notice:
            notice = fields  # the Opendatasoft v1 envelope: {"recordid", "fields": {...}}
        row = _legal_event(notice, n, problems, skipped, unknown) if notice is not None else None
        if row is not None:
            rows.append(row)
    problems.raise_if_any()
    frame = _typed_frame(LEGAL_EVENT, rows)
    return RegistryFrames({"legal_event": frame}, _bodacc_notes(skipped, unknown), sha256)


def _legal_event(
    notice: dict[str, object],
    n: int,
    problems: _Problems,
    skipped: Counter[str],
    unknown: Counter[str],
) -> dict[str, object] | None:
    family = _required_text(notice, "familleavis", n, problems, what="BODACC notice")
    if family is None or family.lower() != INSOLVENCY_FAMILY:
        if family is not None:
            skipped[f"family {family}"] += 1
        return None
    notice_id = _required_text(notice, "id", n, problems, what="BODACC notice")
    published = _required_date(notice, "dateparution", n, problems, what="BODACC notice")
    if (_text(notice, "typeavis", n, problems) or "").lower() == CANCELLED_NOTICE:
        skipped["cancelled"] += 1
        return None
    judgment = _json_object(notice.get("jugement"), n, "jugement", problems)
    if judgment is None:
        skipped["no judgment"] += 1
        return None
    nature = _text(judgment, "nature", n, problems, where="jugement.nature")
    nature = nature or _text(judgment, "famille", n, problems, where="jugement.famille")
    kind = judgment_kind(nature) if nature else None
    if kind is None:
        unknown[nature or "(no nature)"] += 1
        return None
    judged = _date(judgment.get("date"), n, "jugement.date", problems)
    siren = _registre_siren(notice.get("registre")) or _persons_siren(notice, n, problems)
    if siren is None:
        skipped["no siren"] += 1
        return None
    return {ROW: n, "event_id": notice_id, "siren": siren, "event_date": judged or published,
            "kind": kind, "description": nature, "source": BODACC_SOURCE}  # fmt: skip


def _registre_siren(value: object) -> str | None:
    """The SIREN of "552 032 534,552032534" or ["552 032 534", "552032534"]."""
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(",")
    tokens = [_siren_text(str(item).strip()) for item in items if str(item).strip()]
    nine_digits = [t for t in tokens if t and re.fullmatch(r"\d{9}", t)]
    return (nine_digits or tokens or [None])[0]


def _persons_siren(notice: dict[str, object], n: int, problems: _Problems) -> str | None:
    """Registration number of the first person named, when the notice has no registre."""
    persons = _json_object(notice.get("listepersonnes"), n, "listepersonnes", problems)
    person = persons.get("personne") if persons else None
    if isinstance(person, list):
        person = person[0] if person else None
    if not isinstance(person, dict):
        return None
    number = _nested(person, ("numeroImmatriculation", "numeroIdentification"), n, problems)
    return _siren_text(str(number)) if number else None


def _bodacc_notes(skipped: Counter[str], unknown: Counter[str]) -> list[str]:
    notes = []
    families = Counter({k.removeprefix("family "): v for k, v in skipped.items()
                        if k.startswith("family ") and v})  # fmt: skip
    if families:
        notes.append(f"{families.total()} notice(s) that are not insolvency proceedings "
                     f"ignored: {_counted(families)}")  # fmt: skip
    if unknown:
        notes.append(f"{unknown.total()} insolvency notice(s) with a judgment that is none of "
                     f"conciliation, sauvegarde, redressement, liquidation, plan, cloture "
                     f"skipped: {_counted(unknown)}")  # fmt: skip
    for key, text in (("cancelled", "cancelling an earlier notice"),
                      ("no judgment", "without a judgment"),
                      ("no siren", "without a SIREN (debtor not registered)")):  # fmt: skip
        if skipped[key]:
            notes.append(f"{skipped[key]} insolvency notice(s) {text} skipped")
    return notes


def import_bodacc_notices(
    store: LedgerStore, path: Path, *, today: date, progress: Progress = no_progress
) -> WriteReport:
    """Import BODACC insolvency notices as legal events (source "bodacc")."""
    progress("reading", 0.0)
    frames = read_bodacc_notices(path)
    return _land(store, frames, str(path), kind=BODACC_SOURCE, today=today, progress=progress,
                 names=_BODACC_FIELD_NAMES)  # fmt: skip
