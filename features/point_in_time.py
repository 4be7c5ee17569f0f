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

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

import numpy as np
import pandas as pd

from features.schemas import LEGAL_EVENT_KINDS

LATE_DAYS = 5  # paid more than this many days after the due date is late
SEVERE_DAYS = 60  # more than this, or never paid, is severe
RECENT = 5  # "the last five invoices paid"
NO_PROCEEDING_DAYS = 3650.0  # days since a proceeding, for a company that never had one
DAYS_PER_YEAR = 365.25  # company_age_years counts these
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
# The features that depend on the order (its amount, terms, purchase order, day), beside those
# that depend only on who is scored and when.
_COMPARED = ("amount_vs_usual", "terms_vs_usual")
_USUAL_TERMS = "_usual_terms"  # the customer's mean terms so far, to compare an order with
_SUBJECT_COLUMNS = (
    *(name for name in HISTORY_FEATURES if name not in _COMPARED),
    _USUAL_TERMS,
    *COMPANY_FEATURES,
)
# The column labels of feature frames, built once (pandas builds an index from a list anew on
# every frame, which costs more than a one-row query).
FEATURE_COLUMNS = pd.Index(FEATURES)
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


def day_number(day: date) -> int:
    """A date as whole days since 1970, as `day_numbers` counts them."""
    return (day - date(1970, 1, 1)).days


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
    return _factorized(*columns)[0]


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
    """Running sum of values within runs of equal, sorted group labels.

    Each group's sum starts from zero and adds its values in order, so it comes out the same to
    the last bit whatever other groups the arrays hold (a customer's figures never depend on
    which other customers a request or the book contains).
    """
    if len(values) == 0:
        return np.zeros(0)
    sums = pd.Series(values.astype(float, copy=False)).groupby(groups, sort=False).cumsum()
    return sums.to_numpy(dtype=float)


def _first_of_runs(groups: np.ndarray) -> np.ndarray:
    """True where a run of equal (sorted) group labels begins."""
    return np.r_[True, groups[1:] != groups[:-1]] if len(groups) else np.zeros(0, dtype=bool)


class _Stream:
    """Events of one kind sorted by (customer, day), with per-customer running sums."""

    def __init__(
        self,
        customer: np.ndarray,
        day: np.ndarray,
        carried: Mapping[str, np.ndarray] | None = None,
        **values: np.ndarray,
    ) -> None:
        """`values` are summed; `carried` arrays are only put in the stream's order."""
        keys = customer * _SHIFT + day
        order = np.argsort(keys, kind="stable")
        self.day = day[order]
        self.keys = keys[order]
        self.carried = {name: value[order] for name, value in (carried or {}).items()}
        ordered = customer[order]
        # running[i]: the sum of its customer's values up to event i, restarting with each
        # customer, so that a total never mixes in another customer's rounding.
        self.running = {
            name: _group_cumsum(ordered, value[order]) for name, value in values.items()
        }

    @property
    def customer(self) -> np.ndarray:
        return self.keys // _SHIFT

    def before(self, customer: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) positions of each query customer's events dated before its day."""
        start = np.searchsorted(self.keys, customer * _SHIFT, side="left")
        end = np.searchsorted(self.keys, customer * _SHIFT + day, side="left")
        return start, end

    def total(self, name: str, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Sum of the values of events start..end-1 (all of one customer; 0 when none)."""
        running = self.running[name]
        if len(running) == 0:
            return np.zeros(len(start))
        top = len(running) - 1  # (minimum and maximum: np.clip costs more on a few values)
        last = np.minimum(np.maximum(end - 1, 0), top)
        ahead = np.minimum(np.maximum(start - 1, 0), top)
        # What precedes `start` within its customer: nothing at the customer's first event.
        here = np.minimum(start, top)
        first = (start == 0) | (self.keys[ahead] // _SHIFT != self.keys[here] // _SHIFT)
        preceding = np.where(first, 0.0, running[ahead])
        return np.where(end > start, running[last] - preceding, 0.0)


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

    def take(self, rows: np.ndarray) -> _Queries:
        """These rows of the queries, in this order."""
        return _Queries(*(getattr(self, f.name)[rows] for f in dataclasses.fields(self)))


@dataclass(frozen=True)
class _Order:
    """What the queries' orders say: amounts, terms in days, whether a PO number is given."""

    amount: np.ndarray
    terms: np.ndarray
    po_given: np.ndarray


class _Codes:
    """Keys (customer ids or SIRENs) and their integer codes, for looking queries up.

    A key the ledger does not hold gets `unknown`, a code no row carries; a missing key -1.
    """

    def __init__(self, keys: pd.Index | pd.api.extensions.ExtensionArray | np.ndarray) -> None:
        self.code_of = {str(key): code for code, key in enumerate(keys)}
        self.unknown = len(self.code_of)

    def __call__(self, values: pd.Series) -> np.ndarray:
        return self.of(values.astype(object).where(values.notna(), None).tolist())

    def of(self, values: Sequence[str | None]) -> np.ndarray:
        code_of, unknown = self.code_of, self.unknown
        return np.array(
            [-1 if value is None else code_of.get(value, unknown) for value in values],
            dtype=np.int64,
        )


def _lookup(codes: np.ndarray, size: int) -> np.ndarray:
    """A table from code to row position: size + 2 slots so that the `unknown` code (size) and
    a missing one (-1, the last slot) both find no row."""
    where = np.full(size + 2, -1, dtype=np.intp)
    where[codes[codes >= 0]] = np.flatnonzero(codes >= 0)
    where[-1] = -1
    return where


# Queries of at most this many rows look their subjects up in the remembered ones; larger ones
# (batches, training) compute them all at once, which is faster than looking up row by row.
_REMEMBERED_QUERY_ROWS = 16
_REMEMBERED_SUBJECTS = 20_000  # about 8 MB


class PreparedLedger:
    """A ledger turned once into the sorted arrays and running sums that queries search.

    Preparing costs about what one `build_features` over the ledger costs; each query then
    costs a few binary searches. Training prepares the ledger once for all its invoices; the
    service prepares the book it holds in memory, so that a score reads no frame at all.
    """

    def __init__(self, ledger: Ledger) -> None:
        invoices, customers = ledger.invoices, ledger.customers
        (book_customer, account_codes), customer_keys = _factorized(
            invoices["customer_id"], customers["customer_id"]
        )
        self.customer_codes = _Codes(customer_keys)
        # Codes of the invoices' own customers: training's queries are the invoices themselves.
        self.invoice_customers = invoices["customer_id"]
        self.book_customer = book_customer
        self._history = _History(
            _Book(
                customer=book_customer,
                issue=day_numbers(invoices["issue_date"]),
                due=day_numbers(invoices["due_date"]),
                settled=settlement_days(invoices, ledger.payments),
                amount=invoices["amount"].to_numpy(dtype=float),
                disputed=invoices["disputed"].astype("boolean").fillna(False).to_numpy(dtype=bool),
            )
        )
        (registry, statements, events, account_sirens), siren_keys = _factorized(
            ledger.companies["siren"], ledger.statements["siren"], ledger.legal_events["siren"],
            customers["siren"],
        )  # fmt: skip
        self.siren_codes = _Codes(siren_keys)
        self._account_of = _lookup(account_codes, self.customer_codes.unknown)
        self._account_siren = account_sirens
        self._po_required = customers["po_required"].astype("boolean").fillna(False).to_numpy(float)
        self._registry = _Registry(ledger.companies, registry, self.siren_codes.unknown)
        self._accounts = _Accounts(ledger.statements, statements)
        self._legal = _Legal(ledger.legal_events, events)
        self._subjects: dict[tuple[int, int, int], np.ndarray] = {}
        self.remembered_day: int | None = None  # the day of the last `remember_subjects`

    def features(self, queries: pd.DataFrame) -> pd.DataFrame:
        """Features of each query row as of its day (see `build_features`)."""
        if _same_column(queries["customer_id"], self.invoice_customers):
            customer = self.book_customer
        else:
            customer = self.customer_codes(queries["customer_id"])
        given = (
            self.siren_codes(queries["siren"])
            if "siren" in queries
            else np.full(len(queries), -1, dtype=np.int64)
        )
        matrix = self.matrix(
            customer,
            given,
            day_numbers(queries["as_of"]),
            queries["amount"].to_numpy(dtype=float),
            queries["terms_days"].to_numpy(dtype=float),
            _po_given(queries),
        )
        return pd.DataFrame(matrix.T, columns=FEATURE_COLUMNS, index=queries.index, copy=False)

    def matrix(
        self,
        customer: np.ndarray,
        siren: np.ndarray,
        as_of: np.ndarray,
        amount: np.ndarray,
        terms: np.ndarray,
        po_given: np.ndarray,
    ) -> np.ndarray:
        """The features as a (feature, query) block, queries in the order given.

        customer and siren are codes (`customer_codes.of`, `siren_codes.of`; -1 when not
        given), as_of day numbers, po_given 1/0 or NaN when the order does not say.
        """
        # Binary searches run much faster over sorted needles: work in (customer, day) order.
        order = np.lexsort((as_of, customer))
        sorted_queries = self._queries(
            customer[order], siren[order], as_of[order],
            _Order(amount[order], terms[order], po_given[order]),
        )  # fmt: skip
        subject = (
            self._remembered_subjects(sorted_queries)
            if len(order) <= _REMEMBERED_QUERY_ROWS
            else self._subject_features(sorted_queries)
        )
        columns = {
            **subject,
            **_order_features(sorted_queries),
            **_compared_with_usual(subject, sorted_queries),
        }
        restore = np.empty_like(order)
        restore[order] = np.arange(len(order))
        return _restored(columns, restore)

    def _queries(
        self, customer: np.ndarray, siren: np.ndarray, as_of: np.ndarray, order: _Order
    ) -> _Queries:
        """The queries with their companies: the SIREN given, else the account's."""
        account = self._account_of[customer]
        from_account = np.where(
            account >= 0,
            self._account_siren[np.maximum(account, 0)] if len(self._account_siren) else -1,
            -1,
        )
        return _Queries(
            customer=customer,
            company=np.where(siren >= 0, siren, from_account),
            as_of=as_of,
            amount=order.amount,
            terms=order.terms,
            po_required=_take(self._po_required, account),
            po_given=order.po_given,
        )

    def remember_subjects(self, as_of: int, limit: int = _REMEMBERED_SUBJECTS // 2) -> int:
        """Look up, in one pass, what is known on day `as_of` (a day number) of the first
        `limit` customers and their companies, and remember it as `_remembered_subjects`
        would: a service does this for today when it loads the book, so that a score of any
        of its accounts finds its subject ready. Returns how many were remembered."""
        count = min(self.customer_codes.unknown, limit)
        self.remembered_day = as_of
        if count <= 0:
            return 0
        customer = np.arange(count, dtype=np.int64)
        nothing = np.full(count, np.nan)  # a subject's features do not read the order
        queries = self._queries(
            customer, np.full(count, -1, dtype=np.int64), np.full(count, as_of, dtype=np.int64),
            _Order(nothing, nothing, nothing),
        )  # fmt: skip
        self._remember(queries, range(count), self._keys(queries))
        return count

    def _subject_features(self, queries: _Queries) -> dict[str, np.ndarray]:
        """What is known of each query's customer and company on its day: every feature but
        the order's own (and the usual terms, to compare the order with)."""
        return {
            **self._history.features(queries),
            **self._registry.features(queries),
            **self._accounts.features(queries),
            **self._legal.features(queries),
        }

    def _remembered_subjects(self, queries: _Queries) -> dict[str, np.ndarray]:
        """`_subject_features` of a few queries, remembered per (customer, company, day): a
        service scores the same customers again and again on one day, and each fresh look-up
        costs a few hundred small array operations. The values are those of a fresh look-up
        to the last bit (each row's depend on its own key only)."""
        keys = self._keys(queries)
        rows = [self._subjects.get(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            fresh = self._remember(queries.take(np.array(missing)), missing, keys)
            for i in missing:
                rows[i] = fresh[keys[i]]
        stacked = np.array(rows).T
        return {name: stacked[k] for k, name in enumerate(_SUBJECT_COLUMNS)}

    @staticmethod
    def _keys(queries: _Queries) -> list[tuple[int, int, int]]:
        return list(zip(queries.customer.tolist(), queries.company.tolist(),
                        queries.as_of.tolist(), strict=True))  # fmt: skip

    def _remember(
        self, queries: _Queries, rows: Sequence[int], keys: Sequence[tuple[int, int, int]]
    ) -> dict[tuple[int, int, int], np.ndarray]:
        """Compute the subjects of `queries`, which are the rows `rows` of those `keys` name,
        and remember them; returns the subject of each of their keys."""
        fresh = self._subject_features(queries)
        block = np.array([np.asarray(fresh[name], dtype=float) for name in _SUBJECT_COLUMNS])
        if len(self._subjects) + len(rows) > _REMEMBERED_SUBJECTS:
            self._subjects.clear()  # a new day's subjects, mostly: start again
        found: dict[tuple[int, int, int], np.ndarray] = {}
        for j, i in enumerate(rows):
            found[keys[i]] = self._subjects[keys[i]] = block[:, j].copy()
        return found


def _factorized(*columns: pd.Series) -> tuple[list[np.ndarray], pd.Index]:
    """Integer codes of string columns in one shared code space (-1 for missing values), and
    the keys the codes stand for."""
    texts = [column.astype("str") if len(column) else column.astype(object) for column in columns]
    codes, keys = pd.factorize(pd.concat(texts, ignore_index=True).array)
    bounds = np.cumsum([0, *(len(t) for t in texts)])
    return [codes[a:b].astype(np.int64) for a, b in pairwise(bounds)], pd.Index(keys)


def build_features(ledger: Ledger, queries: pd.DataFrame) -> pd.DataFrame:
    """Features of each query row as of its day.

    queries: `as_of` (the decision day: an invoice's issue date, or today for a new order),
    `customer_id` (may be missing for a prospect), `siren` (may be missing when the customer's
    is known), `amount` and `terms_days`, optionally `po_number`. Returns one row per query,
    in the same order and index, with the columns of FEATURES. A customer or SIREN the ledger
    does not hold has no history and no company data.
    """
    return PreparedLedger(ledger).features(queries)


def _restored(columns: Mapping[str, np.ndarray], restore: np.ndarray) -> np.ndarray:
    """The features back in query order, as one feature-major block that pandas keeps as its
    float block without copying (stacking fifty columns afterwards would copy them all)."""
    if len(restore) <= _REMEMBERED_QUERY_ROWS:  # a few rows: one stack, one gather
        return np.array([np.asarray(columns[name], dtype=float) for name in FEATURES])[:, restore]
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


Range = tuple[np.ndarray, np.ndarray]  # (start, end) positions of events in a _Stream


class _History:
    """A customer's history with the supplier: the invoice streams every query searches."""

    def __init__(self, book: _Book) -> None:
        terms = (book.due - book.issue).astype(float)
        self.issued = _Stream(
            book.customer, book.issue, amount=book.amount, disputed=book.disputed, terms=terms
        )
        # Invoices not settled (yet) sort last in their customer's stream, on day NEVER, so they
        # are never among the events before t.
        done = book.settled != NEVER
        days_late = np.where(done, book.settled - book.due, 0).astype(float)
        self.settled = _Stream(book.customer, book.settled, {"days_late": days_late},
                               amount=book.amount, days_late=days_late,
                               late=days_late > LATE_DAYS, severe=days_late > SEVERE_DAYS,
                               late30=days_late > 30)  # fmt: skip
        ordered_late = self.settled.carried.pop("days_late")
        self.days_late_max = (
            pd.Series(ordered_late).groupby(self.settled.customer).cummax().to_numpy(dtype=float)
        )
        self.overdue = _Spells(book, book.due)
        self.known_open = {
            name: _OpenPast(book, book.due + threshold)
            for name, threshold in (("late", LATE_DAYS), ("severe", SEVERE_DAYS))
        }

    def features(self, queries: _Queries) -> dict[str, np.ndarray]:
        issued_before = self.issued.before(queries.customer, queries.as_of)
        settled_before = self.settled.before(queries.customer, queries.as_of)
        out: dict[str, np.ndarray] = {}
        _issued_features(self.issued, issued_before, queries, out)
        _settled_features(self.settled, self.days_late_max, settled_before, queries.as_of, out)
        self._open_features(issued_before, settled_before, queries, out)
        return out

    def _open_features(
        self, issued: Range, settled: Range, queries: _Queries, out: dict[str, np.ndarray]
    ) -> None:
        (start, end), (s_start, s_end) = issued, settled
        customer, as_of = queries.customer, queries.as_of
        # Settled invoices are paid in full by their settlement day, so the amount still open is
        # what was invoiced before t less the amounts of the invoices settled before t.
        out["open_count"] = ((end - start) - (s_end - s_start)).astype(float)
        out["open_amount"] = np.maximum(
            self.issued.total("amount", start, end) - self.settled.total("amount", s_start, s_end),
            0.0,
        )
        count, amount, due_sum, oldest_due = self.overdue.at(customer, as_of)
        out["overdue_count"] = count
        out["overdue_amount"] = amount
        out["overdue_days_mean"] = _ratio(count * as_of - due_sum, count)
        out["oldest_overdue_days"] = np.where(count > 0, as_of - oldest_due, np.nan)
        # Outcomes known at t: settled invoices, and open ones already past the threshold.
        for name, known_open in self.known_open.items():
            still_open = known_open.at(customer, as_of)
            known_bad = self.settled.total(name, s_start, s_end) + still_open
            out[f"known_{name}_share"] = _ratio(known_bad, out["settled_count"] + still_open)


def _at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values[positions], clipped into range (callers mask the rows where nothing is there),
    and zeros when there are no values at all (a ledger without invoices)."""
    if len(values) == 0:
        return np.zeros(len(positions))
    return values[np.minimum(np.maximum(positions, 0), len(values) - 1)]


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
    out["relationship_days"] = np.where(count > 0, queries.as_of - first_day, np.nan)
    out["dispute_rate"] = _ratio(issued.total("disputed", start, end), count)
    out[_USUAL_TERMS] = _ratio(issued.total("terms", start, end), count)


def _compared_with_usual(
    subject: Mapping[str, np.ndarray], queries: _Queries
) -> dict[str, np.ndarray]:
    """The order against the customer's habits: its amount and its terms."""
    return {
        "amount_vs_usual": _ratio(queries.amount, subject["prior_amount_mean"]),
        "terms_vs_usual": queries.terms - subject[_USUAL_TERMS],
    }


def _settled_features(
    settled: _Stream,
    days_late_max: np.ndarray,
    before: Range,
    as_of: np.ndarray,
    out: dict[str, np.ndarray],
) -> None:
    start, end = before
    count = (end - start).astype(float)
    out["settled_count"] = count
    out["settled_late_share"] = _ratio(settled.total("late", start, end), count)
    out["settled_severe_share"] = _ratio(settled.total("severe", start, end), count)
    out["days_late_mean"] = _ratio(settled.total("days_late", start, end), count)
    out["days_late_max"] = np.where(count > 0, _at(days_late_max, end - 1), np.nan)
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


class _OpenPast:
    """How many invoices are open at t and past a threshold day: begins < t <= settled."""

    def __init__(self, book: _Book, begins: np.ndarray) -> None:
        real = book.settled > begins
        self.started = np.sort(book.customer[real] * _SHIFT + begins[real])
        self.ended = np.sort(book.customer[real] * _SHIFT + book.settled[real])

    def at(self, customer: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        query = customer * _SHIFT + as_of
        return (
            np.searchsorted(self.started, query, side="left")
            - np.searchsorted(self.ended, query, side="left")
        ).astype(float)


class _Spells:
    """Spells during which an invoice is open past a threshold day: threshold < t <= settled.

    With `begins` = due date they are the overdue spells; with due date + 5, the spells in
    which an invoice is known to be late although not yet paid.
    """

    def __init__(self, book: _Book, begins: np.ndarray) -> None:
        real = book.settled > begins
        customer, begin, end = book.customer[real], begins[real], book.settled[real]
        due = book.due[real]
        self.starts = _Stream(customer, begin, {"due": due, "settled": end},
                              amount=book.amount[real], due=due)  # fmt: skip
        self.ends = _Stream(customer, end, amount=book.amount[real], due=due)
        self.due = self.starts.carried.pop("due")
        # In begin order, the running latest settlement: the first spell still open at t is the
        # first whose running latest settlement reaches t (it only grows, so it is searchable).
        latest = (
            pd.Series(self.starts.carried.pop("settled")).groupby(self.starts.customer).cummax()
        )
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
        oldest = np.where(has_open, _at(self.due, first_open), 0)
        return count, amount, due_sum, oldest


def _order_features(queries: _Queries) -> dict[str, np.ndarray]:
    dates = (queries.as_of.astype("timedelta64[D]") + _EPOCH).astype("datetime64[D]")
    month = dates.astype("datetime64[M]")
    days_to_month_end = ((month + 1).astype("datetime64[D]") - dates).astype(np.int64)
    due = dates + _zero_for_nan(queries.terms).astype("timedelta64[D]")
    po_required = _zero_for_nan(queries.po_required)
    return {
        "amount_log": np.log1p(np.maximum(queries.amount, 0)),
        "terms_days": queries.terms,
        "po_required": po_required,
        # A customer that requires a PO number holds back an invoice without one.
        "po_missing": np.where(
            np.isnan(queries.po_given), np.nan, po_required * (1 - _zero_for_nan(queries.po_given))
        ),
        "issue_month": (month.astype(np.int64) % 12 + 1).astype(float),
        "due_month": (due.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(float),
        "month_end_issue": (days_to_month_end <= 3).astype(float),
    }


def _zero_for_nan(values: np.ndarray) -> np.ndarray:
    """0 where values are NaN (the order's numbers are finite: `np.nan_to_num` would also
    replace infinities, at several times the cost on the few values of a score)."""
    return np.where(np.isnan(values), 0.0, values)


def _take(values: np.ndarray, position: np.ndarray) -> np.ndarray:
    """values[position] as floats, NaN where position is -1 (nothing found)."""
    if len(values) == 0:
        return np.full(len(position), np.nan)
    return np.where(position >= 0, values[np.maximum(position, 0)].astype(float), np.nan)


def _numbers(values: pd.Series) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    return np.asarray(numbers.to_numpy(dtype=float, na_value=np.nan), dtype=float)


class _Registry:
    """The registry rows (one per SIREN) as numbers, found by SIREN code."""

    def __init__(self, companies: pd.DataFrame, codes: np.ndarray, code_count: int) -> None:
        self.row_of = _lookup(codes, code_count)
        created = day_numbers(companies["creation_date"]).astype(float)
        created[created == NEVER] = np.nan
        self.created = created
        self.share_capital = _numbers(companies["share_capital"])
        self.legal_form = _numbers(companies["legal_form"])
        self.naf_division = _numbers(companies["naf_code"].astype("string").str[:2])
        self.headcount = _numbers(companies["headcount_band"].map(HEADCOUNT_ORDER))
        self.sole_trader = _numbers(companies["is_sole_trader"].astype("Float64"))

    def features(self, queries: _Queries) -> dict[str, np.ndarray]:
        row = self.row_of[queries.company]
        return {
            "has_company": (row >= 0).astype(float),
            "company_age_years": (queries.as_of - _take(self.created, row)) / DAYS_PER_YEAR,
            "share_capital_log": np.log1p(np.maximum(_take(self.share_capital, row), 0)),
            "legal_form": _take(self.legal_form, row),
            "naf_division": _take(self.naf_division, row),
            "headcount": _take(self.headcount, row),
            "sole_trader": _take(self.sole_trader, row),
        }


class _Latest:
    """For each query, the row of its company's latest event dated strictly before its day."""

    def __init__(self, event_company: np.ndarray, event_day: np.ndarray) -> None:
        self.order = np.lexsort((event_day, event_company))
        self.keys = event_company[self.order] * _SHIFT + event_day[self.order]

    def at(self, company: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        start = np.searchsorted(self.keys, company * _SHIFT, side="left")
        end = np.searchsorted(self.keys, company * _SHIFT + as_of, side="left")
        found = (end > start) & (company >= 0)
        return np.where(found, self.order[np.maximum(end - 1, 0)] if len(self.order) else -1, -1)


_STATEMENT_FIELDS = ("revenue", "previous_revenue", "equity", "total_assets", "net_income",
                     "current_assets", "current_liabilities", "cash", "total_debt",
                     "trade_receivables", "trade_payables")  # fmt: skip


class _Accounts:
    """Published accounts as numbers, the latest one before a day found by SIREN code."""

    def __init__(self, statements: pd.DataFrame, codes: np.ndarray) -> None:
        statements = _with_previous_revenue(statements.assign(_company=codes))
        self.latest = _Latest(
            statements["_company"].to_numpy(dtype=np.int64),
            day_numbers(statements["publication_date"]),
        )
        self.fields = {name: _numbers(statements[name]) for name in _STATEMENT_FIELDS}
        self.fiscal_end = day_numbers(statements["fiscal_year_end"]).astype(float)
        self.confidential = _numbers(
            statements["confidential"].astype("boolean").fillna(False).astype(int)
        )

    def features(self, queries: _Queries) -> dict[str, np.ndarray]:
        latest = self.latest.at(queries.company, queries.as_of)

        def get(name: str) -> np.ndarray:
            return _take(self.fields[name], latest)

        revenue, equity, assets = get("revenue"), get("equity"), get("total_assets")
        return {
            "has_accounts": (latest >= 0).astype(float),
            "accounts_confidential": _take(self.confidential, latest),
            "accounts_age_days": queries.as_of - _take(self.fiscal_end, latest),
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


class _Legal:
    """Legal events: how many and how severe, the latest before a day found by SIREN code."""

    def __init__(self, events: pd.DataFrame, codes: np.ndarray) -> None:
        day = day_numbers(events["event_date"])
        order = np.lexsort((day, codes))
        # The running count of a company's events, in date order.
        starts = _first_of_runs(codes[order])
        run = np.arange(len(order)) - np.maximum.accumulate(
            np.where(starts, np.arange(len(order)), 0)
        )
        self.count = np.empty(len(order))
        self.count[order] = run + 1
        self.severity = events["kind"].map(PROCEEDING_SEVERITY).to_numpy(dtype=float, na_value=0)
        self.day = day.astype(float)
        self.latest = _Latest(codes, day)

    def features(self, queries: _Queries) -> dict[str, np.ndarray]:
        latest = self.latest.at(queries.company, queries.as_of)
        return {
            "proceedings_count": np.nan_to_num(_take(self.count, latest)),
            "proceeding_severity": np.nan_to_num(_take(self.severity, latest)),
            # "Never" reads as long ago, so that the feature only ever lowers risk as it grows.
            "days_since_proceeding": np.nan_to_num(
                np.minimum(queries.as_of - _take(self.day, latest), NO_PROCEEDING_DAYS),
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
