"""Point-in-time features: what was known about a customer and its company at a given day.

One function, `build_features`, serves training (every invoice, as of its issue date), batch
scoring and the service (a proposed order, as of today). A feature for a decision on day t uses
only what was known before t:

- an earlier invoice's lateness counts once it is settled (paid in full) before t; until then,
  an invoice past its due date counts as overdue by t - due, never by its final delay;
- accounts count from their publication date, legal events from their date;
- payments count from their date (a payment dated before its invoice counts from the invoice).

History features are exact and vectorised: the ledger becomes per-customer streams of events
(invoices issued, invoices settled, payments received, overdue spells from the due date to the
settlement), sorted by (customer, day). A query (customer, t) finds, by binary search, how many
events of its customer happened before t, and cumulative sums give totals over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from features.schemas import LEGAL_EVENT_KINDS

LATE_DAYS = 5  # paid more than this many days after the due date is late
SEVERE_DAYS = 60  # more than this, or never paid, is severe
RECENT = 5  # "the last five invoices paid"
NO_PROCEEDING_DAYS = 3650.0  # days since a proceeding, for a company that never had one
_PARALLEL_ROWS = 200_000  # below this, threads cost more than the gathers they share
_SHIFT = np.int64(1 << 22)  # day numbers stay below this: customer * _SHIFT + day is a sort key
NEVER = int(_SHIFT - 1)  # the settlement day of an invoice not settled (yet)
_EPOCH = np.datetime64("1970-01-01", "D")

# Ordinal codes of the INSEE headcount bands, so that "bigger" is "greater".
HEADCOUNT_ORDER = {
    band: rank
    for rank, bands in enumerate(
        (("NN", "00"), ("01",), ("02",), ("03",), ("11",), ("12",), ("21",), ("22",), ("31",),
         ("32",), ("41",), ("42",), ("51",), ("52",), ("53",))
    )
    for band in bands
}  # fmt: skip
# How far along insolvency proceedings a legal event shows the company to be.
PROCEEDING_SEVERITY = {"conciliation": 1, "sauvegarde": 2, "plan": 2, "redressement": 3,
                       "liquidation": 4, "cloture": 4}  # fmt: skip
assert set(PROCEEDING_SEVERITY) == set(LEGAL_EVENT_KINDS)

HISTORY_FEATURES = (
    "has_history",
    "prior_invoices",
    "prior_amount_mean",
    "amount_vs_usual",
    "relationship_days",
    "settled_count",
    "settled_late_share",
    "settled_severe_share",
    "days_late_mean",
    "days_late_max",
    "recent_days_late_mean",
    "recent_late30_count",
    "days_late_trend",
    "days_since_last_settlement",
    "known_late_share",
    "known_severe_share",
    "open_count",
    "open_amount",
    "overdue_count",
    "overdue_amount",
    "overdue_days_mean",
    "oldest_overdue_days",
    "dispute_rate",
    "terms_vs_usual",
)
# The invoice's own dispute flag is left out: a dispute is raised after the invoice is issued.
ORDER_FEATURES = ("amount_log", "terms_days", "po_required", "po_missing", "issue_month",
                  "due_month", "month_end_issue")  # fmt: skip
COMPANY_FEATURES = (
    "has_company",
    "company_age_years",
    "share_capital_log",
    "legal_form",
    "naf_division",
    "headcount",
    "sole_trader",
    "has_accounts",
    "accounts_confidential",
    "accounts_age_days",
    "revenue_log",
    "revenue_growth",
    "net_margin",
    "equity_ratio",
    "negative_equity",
    "liquidity_ratio",
    "cash_ratio",
    "debt_ratio",
    "dso_days",
    "dpo_days",
    "proceedings_count",
    "proceeding_severity",
    "days_since_proceeding",
)
FEATURES = HISTORY_FEATURES + ORDER_FEATURES + COMPANY_FEATURES
# Integer codes that LightGBM should split as categories, not as numbers.
CATEGORICAL_FEATURES = ("legal_form", "naf_division")


@dataclass(frozen=True)
class Ledger:
    """The frames the features need, in the canonical layout (see features.schemas)."""

    invoices: pd.DataFrame
    payments: pd.DataFrame
    customers: pd.DataFrame
    companies: pd.DataFrame
    statements: pd.DataFrame
    legal_events: pd.DataFrame

    @classmethod
    def from_tables(cls, tables: Mapping[str, pd.DataFrame]) -> Ledger:
        """From canonical frames keyed by table name; missing tables are empty."""
        from features.schemas import TABLES

        def table(name: str) -> pd.DataFrame:
            if name in tables:
                return tables[name]
            return pd.DataFrame(columns=TABLES[name].columns)

        return cls(
            invoices=table("invoice"),
            payments=table("payment"),
            customers=table("customer"),
            companies=table("company"),
            statements=table("financial_statement"),
            legal_events=table("legal_event"),
        )


def day_numbers(dates: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Dates as whole days since 1970 (int64); missing dates become NEVER."""
    values = np.asarray(pd.to_datetime(dates).to_numpy(dtype="datetime64[D]"))
    days = (values - _EPOCH).astype("timedelta64[D]").astype(np.int64)
    days[np.isnat(values)] = NEVER
    return days


def settlement_days(invoices: pd.DataFrame, payments: pd.DataFrame) -> np.ndarray:
    """For each invoice (in `invoices` order), the day its payments first cover its amount.

    NEVER when they do not (yet). A cent of tolerance absorbs rounding in partial payments.
    """
    settled = np.full(len(invoices), NEVER, dtype=np.int64)
    if payments.empty or invoices.empty:
        return settled
    position = positions_in(invoices["invoice_id"], payments["invoice_id"])
    known = position >= 0
    position = position[known]
    issue = day_numbers(invoices["issue_date"])
    paid = np.maximum(day_numbers(payments["paid_date"])[known], issue[position])
    amount = payments["amount"].to_numpy(dtype=float)[known]
    order = np.lexsort((paid, position))
    position, paid, amount = position[order], paid[order], amount[order]
    cumulative = _group_cumsum(position, amount)
    due_amount = invoices["amount"].to_numpy(dtype=float)[position]
    covered = cumulative >= due_amount - 0.01
    # Sorted by (invoice, day): an invoice's first covering payment is its first covered row.
    invoice, day = position[covered], paid[covered]
    first = np.r_[True, invoice[1:] != invoice[:-1]]
    settled[invoice[first]] = day[first]
    return settled


def codes_of(*columns: pd.Series) -> list[np.ndarray]:
    """Integer codes of string columns in one shared code space (-1 for missing values).

    Equal strings get equal codes across the columns, so codes compare where strings would;
    factorizing Arrow strings is far faster than hashing Python objects.
    """
    texts = [column.astype("str") if len(column) else column.astype(object) for column in columns]
    codes, _ = pd.factorize(pd.concat(texts, ignore_index=True).array)
    bounds = np.cumsum([0, *(len(t) for t in texts)])
    return [codes[a:b].astype(np.int64) for a, b in pairwise(bounds)]


def positions_in(keys: pd.Series, values: pd.Series) -> np.ndarray:
    """For each value, the position of the equal key (keys are unique), or -1."""
    return _positions(*codes_of(keys, values))


def _positions(key_codes: np.ndarray, value_codes: np.ndarray) -> np.ndarray:
    """For each value code, the position of the key with that code, or -1."""
    where = np.full(max(key_codes.max(initial=-1), value_codes.max(initial=-1)) + 2, -1)
    where[key_codes] = np.arange(len(key_codes))
    where[-1] = -1  # code -1 (a missing value) lands on this last slot
    return where[value_codes]


def _group_cumsum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of values within runs of equal, sorted group labels."""
    total = np.cumsum(values)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    offsets = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(groups)]))
    return total - offsets


class _Stream:
    """Events of one kind sorted by (customer, day), with cumulative sums of their values."""

    def __init__(self, customer: np.ndarray, day: np.ndarray, **values: np.ndarray) -> None:
        keys = customer * _SHIFT + day
        order = np.argsort(keys, kind="stable")
        self.customer = customer[order]
        self.day = day[order]
        self.keys = keys[order]
        self.sums = {
            name: np.r_[0.0, np.cumsum(value[order].astype(float))]
            for name, value in values.items()
        }
        self.values = {name: value[order] for name, value in values.items()}

    def before(self, customer: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) positions of each query customer's events dated before its day."""
        start = np.searchsorted(self.keys, customer * _SHIFT, side="left")
        end = np.searchsorted(self.keys, customer * _SHIFT + day, side="left")
        return start, end

    def total(self, name: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        return self.sums[name][end] - self.sums[name][start]


@dataclass(frozen=True)
class _Book:
    """The invoices as integer arrays: customer code, days, amounts, settlement."""

    customer: np.ndarray
    issue: np.ndarray
    due: np.ndarray
    settled: np.ndarray
    amount: np.ndarray
    disputed: np.ndarray


@dataclass(frozen=True)
class _Queries:
    """The queries as arrays, sorted by (customer, day) for fast binary searches."""

    customer: np.ndarray  # code shared with _Book.customer; -1 for none
    company: np.ndarray  # SIREN code shared with the registry tables; -1 for none
    as_of: np.ndarray
    amount: np.ndarray
    terms: np.ndarray
    po_required: np.ndarray
    po_given: np.ndarray  # 1 when the order carries a purchase-order number, NaN if not said


def build_features(ledger: Ledger, queries: pd.DataFrame) -> pd.DataFrame:
    """Features of each query row as of its day.

    queries: `as_of` (the decision day: an invoice's issue date, or today for a new order),
    `customer_id` (may be missing for a prospect), `siren` (may be missing when the customer's
    is known), `amount` and `terms_days`. Returns one row per query, in the same order and
    index, with the columns of FEATURES.
    """
    invoices = ledger.invoices
    if _same_column(queries["customer_id"], invoices["customer_id"]):
        # Scoring the ledger's own invoices (training): one factorization serves both.
        book_customer, account_codes = codes_of(
            invoices["customer_id"], ledger.customers["customer_id"]
        )
        query_customer = book_customer
    else:
        book_customer, query_customer, account_codes = codes_of(
            invoices["customer_id"], queries["customer_id"], ledger.customers["customer_id"]
        )
    book = _Book(
        customer=book_customer,
        issue=day_numbers(invoices["issue_date"]),
        due=day_numbers(invoices["due_date"]),
        settled=settlement_days(invoices, ledger.payments),
        amount=invoices["amount"].to_numpy(dtype=float),
        disputed=invoices["disputed"].astype("boolean").fillna(False).to_numpy(dtype=bool),
    )
    as_of = day_numbers(queries["as_of"])
    # Binary searches run much faster over sorted needles: work in (customer, day) order.
    order = np.lexsort((as_of, query_customer))
    account = _positions(account_codes, query_customer[order])
    sirens = _siren_codes(ledger, queries)
    sorted_queries = _Queries(
        customer=query_customer[order],
        company=_query_companies(sirens, account, order),
        as_of=as_of[order],
        amount=queries["amount"].to_numpy(dtype=float)[order],
        terms=queries["terms_days"].to_numpy(dtype=float)[order],
        po_required=_take(
            ledger.customers["po_required"].astype("boolean").fillna(False).to_numpy(float),
            account,
        ),
        po_given=_po_given(queries)[order],
    )
    columns = {
        **_history_features(book, sorted_queries),
        **_order_features(sorted_queries),
        **_company_features(ledger, sirens, sorted_queries),
    }
    restore = np.empty_like(order)
    restore[order] = np.arange(len(order))
    return pd.DataFrame(
        _restored(columns, restore).T, columns=list(FEATURES), index=queries.index, copy=False
    )


def _restored(columns: Mapping[str, np.ndarray], restore: np.ndarray) -> np.ndarray:
    """The features back in query order, as one feature-major block that pandas keeps as its
    float block without copying (stacking fifty columns afterwards would copy them all)."""
    matrix = np.empty((len(FEATURES), len(restore)))

    def gather(row: int) -> None:
        np.take(np.asarray(columns[FEATURES[row]], dtype=float), restore, out=matrix[row])

    if len(restore) < _PARALLEL_ROWS:
        for row in range(len(FEATURES)):
            gather(row)
    else:  # random gathers are memory-bound and release the GIL: both cores help
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(gather, range(len(FEATURES))))
    return matrix


def _po_given(queries: pd.DataFrame) -> np.ndarray:
    if "po_number" not in queries:
        return np.full(len(queries), np.nan)
    text = queries["po_number"].astype("string").str.strip()
    return (text.notna() & (text != "")).to_numpy(dtype=float)


def _same_column(a: pd.Series, b: pd.Series) -> bool:
    """Whether two columns hold the same values in the same order (cheap when they do not)."""
    return len(a) == len(b) and len(a) > 0 and bool(a.array.equals(b.array))


def _objects(values: pd.Series) -> np.ndarray:
    """A column as Python objects with None for missing values."""
    return np.asarray(values.to_numpy(dtype=object, na_value=None), dtype=object)


Range = tuple[np.ndarray, np.ndarray]  # (start, end) positions of events in a _Stream


def _history_features(book: _Book, queries: _Queries) -> dict[str, np.ndarray]:
    customer, as_of = queries.customer, queries.as_of
    issued = _Stream(book.customer, book.issue, amount=book.amount, disputed=book.disputed,
                     terms=(book.due - book.issue).astype(float))  # fmt: skip
    # Invoices not settled (yet) sort last in their customer's stream, on day NEVER, so they
    # are never among the events before t.
    done = book.settled != NEVER
    days_late = np.where(done, book.settled - book.due, 0).astype(float)
    settled = _Stream(book.customer, book.settled, amount=book.amount, days_late=days_late,
                      late=days_late > LATE_DAYS, severe=days_late > SEVERE_DAYS,
                      late30=days_late > 30)  # fmt: skip
    issued_before = issued.before(customer, as_of)
    settled_before = settled.before(customer, as_of)
    out: dict[str, np.ndarray] = {}
    _issued_features(issued, issued_before, queries, out)
    _settled_features(settled, settled_before, as_of, out)
    _open_features(book, (issued, issued_before), (settled, settled_before), queries, out)
    return out


def _at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[positions], clipped into range (callers mask the rows where nothing is there),
    and zeros when there are no values at all (a ledger without invoices)."""
    if len(values) == 0:
        return np.zeros(len(positions))
    return values[np.clip(positions, 0, len(values) - 1)]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _issued_features(
    issued: _Stream, before: Range, queries: _Queries, out: dict[str, np.ndarray]
) -> None:
    start, end = before
    count = (end - start).astype(float)
    mean_amount = _ratio(issued.total("amount", start, end), count)
    first_day = np.where(end > start, _at(issued.day, start), 0)
    out["has_history"] = (count > 0).astype(float)
    out["prior_invoices"] = count
    out["prior_amount_mean"] = mean_amount
    out["amount_vs_usual"] = _ratio(queries.amount, mean_amount)
    out["relationship_days"] = np.where(count > 0, queries.as_of - first_day, np.nan)
    out["dispute_rate"] = _ratio(issued.total("disputed", start, end), count)
    out["terms_vs_usual"] = queries.terms - _ratio(issued.total("terms", start, end), count)


def _settled_features(
    settled: _Stream, before: Range, as_of: np.ndarray, out: dict[str, np.ndarray]
) -> None:
    start, end = before
    count = (end - start).astype(float)
    out["settled_count"] = count
    out["settled_late_share"] = _ratio(settled.total("late", start, end), count)
    out["settled_severe_share"] = _ratio(settled.total("severe", start, end), count)
    out["days_late_mean"] = _ratio(settled.total("days_late", start, end), count)
    running_max = (
        pd.Series(settled.values["days_late"]).groupby(settled.customer).cummax().to_numpy()
    )
    out["days_late_max"] = np.where(count > 0, _at(running_max, end - 1), np.nan)
    recent_start = np.maximum(start, end - RECENT)
    recent_count = (end - recent_start).astype(float)
    out["recent_days_late_mean"] = _ratio(
        settled.total("days_late", recent_start, end), recent_count
    )
    out["recent_late30_count"] = np.where(
        count > 0, settled.total("late30", recent_start, end), np.nan
    )
    out["days_late_trend"] = out["recent_days_late_mean"] - out["days_late_mean"]
    # A customer in distress stops paying while still ordering: its last-five figures go stale.
    last = _at(settled.day, end - 1)
    out["days_since_last_settlement"] = np.where(count > 0, as_of - last, np.nan)


def _open_features(
    book: _Book,
    issued: tuple[_Stream, Range],
    settled: tuple[_Stream, Range],
    queries: _Queries,
    out: dict[str, np.ndarray],
) -> None:
    (issue_stream, (start, end)), (settle_stream, (s_start, s_end)) = issued, settled
    customer, as_of = queries.customer, queries.as_of
    # Settled invoices are paid in full by their settlement day, so the amount still open is
    # what was invoiced before t less the amounts of the invoices settled before t.
    out["open_count"] = ((end - start) - (s_end - s_start)).astype(float)
    out["open_amount"] = np.maximum(
        issue_stream.total("amount", start, end) - settle_stream.total("amount", s_start, s_end),
        0.0,
    )
    count, amount, due_sum, oldest_due = _Spells(book, book.due).at(customer, as_of)
    out["overdue_count"] = count
    out["overdue_amount"] = amount
    out["overdue_days_mean"] = _ratio(count * as_of - due_sum, count)
    out["oldest_overdue_days"] = np.where(count > 0, as_of - oldest_due, np.nan)
    # Outcomes known at t: settled invoices, and open ones already past the threshold.
    for name, threshold in (("late", LATE_DAYS), ("severe", SEVERE_DAYS)):
        known_open = _open_past(book, book.due + threshold, customer, as_of)
        known_bad = settle_stream.total(name, s_start, s_end) + known_open
        out[f"known_{name}_share"] = _ratio(known_bad, out["settled_count"] + known_open)


def _open_past(
    book: _Book, begins: np.ndarray, customer: np.ndarray, as_of: np.ndarray
) -> np.ndarray:
    """How many invoices are open at t and past their threshold day: begins < t <= settled."""
    real = book.settled > begins
    started = np.sort(book.customer[real] * _SHIFT + begins[real])
    ended = np.sort(book.customer[real] * _SHIFT + book.settled[real])
    query = customer * _SHIFT + as_of
    return (
        np.searchsorted(started, query, side="left") - np.searchsorted(ended, query, side="left")
    ).astype(float)


class _Spells:
    """Spells during which an invoice is open past a threshold day: threshold < t <= settled.

    With `begins` = due date they are the overdue spells; with due date + 5, the spells in
    which an invoice is known to be late although not yet paid.
    """

    def __init__(self, book: _Book, begins: np.ndarray) -> None:
        real = book.settled > begins
        customer, begin, end = book.customer[real], begins[real], book.settled[real]
        self.starts = _Stream(customer, begin, amount=book.amount[real], due=book.due[real],
                              settled=end)  # fmt: skip
        self.ends = _Stream(customer, end, amount=book.amount[real], due=book.due[real])
        # In begin order, the running latest settlement: the first spell still open at t is the
        # first whose running latest settlement reaches t (it only grows, so it is searchable).
        latest = pd.Series(self.starts.values["settled"]).groupby(self.starts.customer).cummax()
        self.latest_keys = self.starts.customer * _SHIFT + latest.to_numpy(dtype=np.int64)

    def at(
        self, customer: np.ndarray, as_of: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(count, amount, sum of due days, earliest due day) of the spells open at t."""
        start, end = self.starts.before(customer, as_of)
        e_start, e_end = self.ends.before(customer, as_of)
        count = ((end - start) - (e_end - e_start)).astype(float)
        amount = self.starts.total("amount", start, end) - self.ends.total("amount", e_start, e_end)
        due_sum = self.starts.total("due", start, end) - self.ends.total("due", e_start, e_end)
        first_open = np.searchsorted(self.latest_keys, customer * _SHIFT + as_of, side="left")
        has_open = first_open < end
        oldest = np.where(has_open, _at(self.starts.values["due"], first_open), 0)
        return count, amount, due_sum, oldest


def _order_features(queries: _Queries) -> dict[str, np.ndarray]:
    dates = (queries.as_of.astype("timedelta64[D]") + _EPOCH).astype("datetime64[D]")
    month = dates.astype("datetime64[M]")
    days_to_month_end = ((month + 1).astype("datetime64[D]") - dates).astype(np.int64)
    due = dates + np.nan_to_num(queries.terms).astype("timedelta64[D]")
    po_required = np.nan_to_num(queries.po_required)
    return {
        "amount_log": np.log1p(np.maximum(queries.amount, 0)),
        "terms_days": queries.terms,
        "po_required": po_required,
        # A customer that requires a PO number holds back an invoice without one.
        "po_missing": np.where(
            np.isnan(queries.po_given), np.nan, po_required * (1 - np.nan_to_num(queries.po_given))
        ),
        "issue_month": (month.astype(np.int64) % 12 + 1).astype(float),
        "due_month": (due.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(float),
        "month_end_issue": (days_to_month_end <= 3).astype(float),
    }


def _company_features(
    ledger: Ledger, sirens: _SirenCodes, queries: _Queries
) -> dict[str, np.ndarray]:
    registry, statements, events = sirens.companies, sirens.statements, sirens.legal_events
    company, as_of = queries.company, queries.as_of
    return {
        **_registry_features(ledger.companies, registry, company, as_of),
        **_accounts_features(ledger.statements, statements, company, as_of),
        **_legal_features(ledger.legal_events, events, company, as_of),
    }


@dataclass(frozen=True)
class _SirenCodes:
    """The SIRENs of the company tables, the customer accounts and the queries in one code
    space (one factorization: a request reads a few rows, and each costs pandas' set-up)."""

    companies: np.ndarray
    statements: np.ndarray
    legal_events: np.ndarray
    customers: np.ndarray
    given: np.ndarray  # of the queries, in their order (-1 when not given)


def _siren_codes(ledger: Ledger, queries: pd.DataFrame) -> _SirenCodes:
    given = queries["siren"] if "siren" in queries else pd.Series(pd.NA, index=queries.index)
    return _SirenCodes(*codes_of(
        ledger.companies["siren"], ledger.statements["siren"], ledger.legal_events["siren"],
        ledger.customers["siren"], given,
    ))  # fmt: skip


def _query_companies(sirens: _SirenCodes, account: np.ndarray, order: np.ndarray) -> np.ndarray:
    """SIREN codes of the (sorted) queries: the one given, else the customer account's."""
    customer_sirens, given_codes = sirens.customers, sirens.given[order]
    from_account = np.where(account >= 0, customer_sirens[np.maximum(account, 0)]
                            if len(customer_sirens) else -1, -1)  # fmt: skip
    return np.where(given_codes >= 0, given_codes, from_account)


def _take(values: np.ndarray, position: np.ndarray) -> np.ndarray:
    """values[position] as floats, NaN where position is -1 (nothing found)."""
    if len(values) == 0:
        return np.full(len(position), np.nan)
    return np.where(position >= 0, values[np.maximum(position, 0)].astype(float), np.nan)


def _numbers(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)


def _registry_features(
    companies: pd.DataFrame, registry: np.ndarray, company: np.ndarray, as_of: np.ndarray
) -> dict[str, np.ndarray]:
    row = _positions(registry, company)
    created = day_numbers(companies["creation_date"]).astype(float)
    created[created == NEVER] = np.nan
    naf = companies["naf_code"].astype("string").str[:2]
    headcount = companies["headcount_band"].map(HEADCOUNT_ORDER)
    return {
        "has_company": (row >= 0).astype(float),
        "company_age_years": (as_of - _take(created, row)) / 365.25,
        "share_capital_log": np.log1p(
            np.maximum(_take(_numbers(companies["share_capital"]), row), 0)
        ),
        "legal_form": _take(_numbers(companies["legal_form"]), row),
        "naf_division": _take(_numbers(naf), row),
        "headcount": _take(_numbers(headcount), row),
        "sole_trader": _take(_numbers(companies["is_sole_trader"].astype("Float64")), row),
    }


def _latest_before(
    event_company: np.ndarray, event_day: np.ndarray, company: np.ndarray, as_of: np.ndarray
) -> np.ndarray:
    """For each query, the row of its company's latest event dated strictly before its day."""
    order = np.lexsort((event_day, event_company))
    keys = event_company[order] * _SHIFT + event_day[order]
    start = np.searchsorted(keys, company * _SHIFT, side="left")
    end = np.searchsorted(keys, company * _SHIFT + as_of, side="left")
    found = (end > start) & (company >= 0)
    return np.where(found, order[np.maximum(end - 1, 0)] if len(order) else -1, -1)


def _accounts_features(
    statements: pd.DataFrame, codes: np.ndarray, company: np.ndarray, as_of: np.ndarray
) -> dict[str, np.ndarray]:
    statements = _with_previous_revenue(statements.assign(_company=codes))
    published = day_numbers(statements["publication_date"])
    latest = _latest_before(
        statements["_company"].to_numpy(dtype=np.int64), published, company, as_of
    )

    def get(name: str) -> np.ndarray:
        return _take(_numbers(statements[name]), latest)

    revenue, equity, assets = get("revenue"), get("equity"), get("total_assets")
    fiscal_end = _take(day_numbers(statements["fiscal_year_end"]).astype(float), latest)
    confidential = _numbers(statements["confidential"].astype("boolean").fillna(False).astype(int))
    return {
        "has_accounts": (latest >= 0).astype(float),
        "accounts_confidential": _take(confidential, latest),
        "accounts_age_days": as_of - fiscal_end,
        "revenue_log": np.log1p(np.maximum(revenue, 0)),
        "revenue_growth": _ratio(revenue - get("previous_revenue"), get("previous_revenue")),
        "net_margin": _ratio(get("net_income"), revenue),
        "equity_ratio": _ratio(equity, assets),
        "negative_equity": np.where(np.isnan(equity), np.nan, (equity < 0).astype(float)),
        "liquidity_ratio": _ratio(get("current_assets"), get("current_liabilities")),
        "cash_ratio": _ratio(get("cash"), get("current_liabilities")),
        "debt_ratio": _ratio(get("total_debt"), assets),
        "dso_days": _ratio(get("trade_receivables") * 365, revenue),
        "dpo_days": _ratio(get("trade_payables") * 365, revenue),
    }


def _with_previous_revenue(statements: pd.DataFrame) -> pd.DataFrame:
    """Each statement with the revenue of the company's previous fiscal year, if published by
    the time this one was (so that growth is known as soon as this statement is)."""
    if statements.empty:
        return statements.assign(previous_revenue=pd.Series(dtype=float))
    # numpy rather than sort_values and groupby.shift: a request reads a few statements, and
    # pandas' set-up would cost more than the work.
    company = statements["_company"].to_numpy(dtype=np.int64)
    fiscal_end = statements["fiscal_year_end"].to_numpy(dtype="datetime64[s]")
    order = np.lexsort((fiscal_end, company))  # stable, missing year ends (NaT) last
    ordered = statements.take(order).reset_index(drop=True)
    company, published = company[order], day_numbers(ordered["publication_date"])
    revenue = ordered["revenue"].to_numpy(dtype=float, na_value=np.nan)
    same = np.r_[False, company[1:] == company[:-1]]
    before = np.r_[NEVER, published[:-1]]
    known = same & (before != NEVER) & (published != NEVER) & (before <= published)
    previous = np.where(known, np.r_[np.nan, revenue[:-1]], np.nan)
    return ordered.assign(previous_revenue=previous)


def _legal_features(
    events: pd.DataFrame, codes: np.ndarray, company: np.ndarray, as_of: np.ndarray
) -> dict[str, np.ndarray]:
    day = day_numbers(events["event_date"])
    order = np.lexsort((day, codes))
    # The running count of a company's events, in date order.
    starts = np.r_[True, codes[order][1:] != codes[order][:-1]] if len(order) else np.array([])
    run = np.arange(len(order)) - np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    count = np.empty(len(order))
    count[order] = run + 1
    severity = events["kind"].map(PROCEEDING_SEVERITY).to_numpy(dtype=float, na_value=0)
    latest = _latest_before(codes, day, company, as_of)
    return {
        "proceedings_count": np.nan_to_num(_take(count, latest)),
        "proceeding_severity": np.nan_to_num(_take(severity, latest)),
        # "Never" reads as long ago, so that the feature only ever lowers risk as it grows.
        "days_since_proceeding": np.nan_to_num(
            np.minimum(as_of - _take(day.astype(float), latest), NO_PROCEEDING_DAYS),
            nan=NO_PROCEEDING_DAYS,
        ),
    }


def invoice_queries(invoices: pd.DataFrame) -> pd.DataFrame:
    """Queries that score every invoice as of its issue date (for training and backtests)."""
    issue, due = day_numbers(invoices["issue_date"]), day_numbers(invoices["due_date"])
    return pd.DataFrame(
        {
            "as_of": invoices["issue_date"],
            "customer_id": invoices["customer_id"],
            "amount": invoices["amount"],
            "terms_days": (due - issue).astype(float),
            "po_number": invoices["po_number"],
        },
        index=invoices.index,
    )


# What build_features gives a query with no history: counts are zero, averages are unknown.
_ZERO_FOR_PROSPECTS = ("has_history", "prior_invoices", "settled_count", "open_count",
                       "open_amount", "overdue_count", "overdue_amount", "po_required")  # fmt: skip


def prospect_view(features: pd.DataFrame) -> pd.DataFrame:
    """The same rows as a prospect would see them: the company and the order, no history.

    Training adds such rows so that one model also scores prospects from company data alone.
    """
    view = features.copy()
    for name in HISTORY_FEATURES:
        view[name] = 0.0 if name in _ZERO_FOR_PROSPECTS else np.nan
    view["po_required"] = 0.0
    view["po_missing"] = np.where(view["po_missing"].isna(), np.nan, 0.0)
    return view
