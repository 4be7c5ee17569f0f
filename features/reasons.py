"""Reasons a salesperson can read: the model's strongest contributions, in French and English.

`explain` takes one row of point-in-time features with its per-feature contributions to the
log-odds of late payment (`ScoringModel.contributions`) and returns at most four reasons, the
largest contributions first, each a sentence built from the feature's value ("3 des 5 dernières
factures payées avec plus de 30 jours de retard") and the direction it pushes the risk.
`explain_frame` does the same for a whole frame, row by row, and `explain_rows` for arrays.

Every feature has a sentence in `SENTENCES`. A sentence may decline (return None) when the
value says nothing readable, e.g. a missing average delay of a known customer; the next
contribution takes its place. Some missing values do say something, and say it once: the
history of a new customer ("nouveau client : aucun historique de paiement"), the accounts
figures of a company without published accounts ("aucun compte annuel publié") or with
confidential ones, the registry data of a company not in the registry. Features that state the
same fact (the count and the amount of overdue invoices) share a topic, and a list of reasons
names each topic and each sentence once.

French follows French typography: a non-breaking space groups thousands and precedes "%", "€"
and ":"; decimals take a comma.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.point_in_time import (
    HEADCOUNT_ORDER,
    LATE_DAYS,
    PROCEEDING_SEVERITY,
    RECENT,
    SEVERE_DAYS,
)

__all__ = [
    "SENTENCES",
    "Reason",
    "Sentence",
    "Texts",
    "describe",
    "explain",
    "explain_frame",
    "explain_rows",
]

NBSP = "\u00a0"
Texts = tuple[str, str]  # (French, English)
Lookup = Callable[[str], float]  # a feature of the same row by name; NaN when unknown
Direction = Literal["raises", "lowers"]
Render = Callable[[float, Lookup], Texts | None]  # (value, lookup) -> (French, English)


@dataclass(frozen=True)
class Reason:
    """One feature's push on the risk of late payment, said in French and English."""

    feature: str
    direction: Direction  # "raises" or "lowers" the risk of late payment
    contribution: float  # signed contribution to the log-odds of late payment
    text_fr: str
    text_en: str


@dataclass(frozen=True)
class Sentence:
    """How one feature reads: `render(value, lookup)` gives (French, English) or None.

    `topic` groups features that state the same fact; a reason list keeps one per topic.
    """

    render: Render
    topic: str | None = None


# ---- numbers in both languages ----------------------------------------------------------------


def _float(value: float) -> float:
    """A feature value as a float; None, pd.NA, infinities and unparseable values become NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _whole(x: float) -> int:
    """Rounded half away from zero (round() goes to even: 12.5 days would read 12)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _number(x: float, digits: int = 0) -> Texts:
    english = f"{x:,.{digits}f}"
    return english.replace(",", NBSP).replace(".", ","), english


def _plural(n: int, fr: tuple[str, str], en: tuple[str, str]) -> Texts:
    """'n unit(s)'; French takes the singular for 0 and 1, English for 1 only."""
    number_fr, number_en = _number(n)
    return (
        f"{number_fr} {fr[0] if abs(n) < 2 else fr[1]}",
        f"{number_en} {en[0] if abs(n) == 1 else en[1]}",
    )


def _days(n: int) -> Texts:
    return _plural(n, ("jour", "jours"), ("day", "days"))


def _percent(share: float) -> Texts:
    """A share in [0, 1] as a whole percentage; never "0 %" or "100 %" for what is not."""
    percent = _whole(share * 100)
    if percent == 0 and share > 0:
        return f"moins de 1{NBSP}%", "less than 1%"
    if percent >= 100 and share < 1:
        return f"plus de 99{NBSP}%", "over 99%"
    fr, en = _number(percent)
    return f"{fr}{NBSP}%", f"{en}%"


def _euros(amount: float) -> Texts:
    """Whole euros below a million, then millions (M€) and billions (Md€) with one decimal."""
    sign, size = ("-" if amount < 0 else ""), abs(amount)
    for scale, unit_fr, unit_en in ((1e9, "Md€", "bn"), (1e6, "M€", "M")):
        if _whole(size) >= scale:
            fr, en = _number(size / scale, 1)
            fr, en = fr.removesuffix(",0"), en.removesuffix(".0")
            return f"{sign}{fr}{NBSP}{unit_fr}", f"{sign}€{en}{unit_en}"
    fr, en = _number(_whole(size))
    return f"{sign}{fr}{NBSP}€", f"{sign}€{en}"


def _times(ratio: float) -> Texts:
    """A ratio for "n fois" / "n times": one decimal below 10."""
    if 0 < ratio < 0.05:
        return "moins de 0,1", "less than 0.1"
    return _number(ratio, 0 if ratio >= 9.95 else 1)


_MONTH = 365.25 / 12


def _elapsed(days: float) -> Texts:
    """A duration as a person says it: days up to two months, months up to three years,
    then whole years."""
    if days < 1:
        return "moins d'un jour", "less than a day"
    if _whole(days) <= 60:
        return _days(_whole(days))
    if days <= 3 * 365.25:
        return _plural(_whole(days / _MONTH), ("mois", "mois"), ("month", "months"))
    return _plural(int(days // 365.25), ("an", "ans"), ("year", "years"))


def _ago(days: float) -> Texts:
    fr, en = _elapsed(days)
    return f"il y a {fr}", f"{en} ago"


def _from_log(value: float) -> float | None:
    """An amount stored as log1p(amount); None for NaN, negative or overflowing logs."""
    return math.expm1(value) if 0 <= value < 700 else None


def _code(value: float) -> int | None:
    """A positive integer code, or None for NaN, fractions and non-positive values."""
    return int(value) if value > 0 and float(value).is_integer() else None


def _flag(value: float, yes: Texts, no: Texts) -> Texts | None:
    return yes if value == 1 else no if value == 0 else None


# ---- history -----------------------------------------------------------------------------------


_NEW_CUSTOMER = (
    f"nouveau client{NBSP}: aucun historique de paiement",
    "new customer: no payment history",
)


def _has_history(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        ("client connu, avec un historique de paiement", "known customer with a payment history"),
        _NEW_CUSTOMER,
    )


def _from_history(render: Render) -> Render:
    """A history sentence that, for a new customer, says just that: its zero counts and
    unknown averages all mean "no history" (and read as one reason)."""

    def sentence(value: float, get: Lookup) -> Texts | None:
        return _NEW_CUSTOMER if get("has_history") == 0 else render(value, get)

    return sentence


def _prior_invoices(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    if value == 0:
        return "aucune facture antérieure", "no previous invoice"
    return _plural(
        _whole(value),
        ("facture antérieure", "factures antérieures"),
        ("previous invoice", "previous invoices"),
    )


def _prior_amount_mean(value: float, get: Lookup) -> Texts | None:
    if math.isnan(value):
        return None
    fr, en = _euros(value)
    return f"montant moyen des factures précédentes{NBSP}: {fr}", f"previous invoices averaged {en}"


def _amount_vs_usual(value: float, get: Lookup) -> Texts | None:
    if math.isnan(value):
        return None
    if value <= 0:
        return "facture d'un montant nul ou négatif", "zero or negative invoice amount"
    fr, en = _times(value)
    if value >= 1.05:
        return f"montant {fr} fois supérieur à l'habitude", f"amount {en} times the usual"
    if value > 0.95:
        return "montant habituel pour ce client", "usual amount for this customer"
    return f"montant inférieur à l'habitude ({fr} fois)", f"amount below the usual ({en} times)"


def _relationship_days(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    fr, en = _elapsed(value)
    return f"client depuis {fr}", f"customer for {en}"


def _settled_count(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    if value == 0:
        return "aucune facture encore réglée", "no invoice settled yet"
    return _plural(
        _whole(value),
        ("facture déjà réglée", "factures déjà réglées"),
        ("invoice already settled", "invoices already settled"),
    )


def _share(value: float, none: Texts, every: Texts, some: Texts) -> Texts | None:
    """A share of invoices; `some` holds "{}" where the percentage goes."""
    if not 0 <= value <= 1:
        return None
    if value == 0:
        return none
    if value == 1:
        return every
    fr, en = _percent(value)
    return some[0].format(fr), some[1].format(en)


def _settled_late_share(value: float, get: Lookup) -> Texts | None:
    return _share(
        value,
        ("aucune facture réglée ne l'a été en retard", "no settled invoice was paid late"),
        ("toutes les factures réglées l'ont été en retard", "all settled invoices were paid late"),
        ("{} des factures réglées l'ont été en retard", "{} of settled invoices were paid late"),
    )


def _settled_severe_share(value: float, get: Lookup) -> Texts | None:
    late_fr, late_en = (
        f"plus de {SEVERE_DAYS} jours de retard",
        f"more than {SEVERE_DAYS} days late",
    )
    return _share(
        value,
        (f"aucune facture réglée avec {late_fr}", f"no settled invoice was paid {late_en}"),
        (f"toutes les factures réglées l'ont été avec {late_fr}",
         f"all settled invoices were paid {late_en}"),
        (f"{{}} des factures réglées l'ont été avec {late_fr}",
         f"{{}} of settled invoices were paid {late_en}"),
    )  # fmt: skip


def _known_late_share(value: float, get: Lookup) -> Texts | None:
    late_fr, late_en = f"en retard de plus de {LATE_DAYS} jours", f"more than {LATE_DAYS} days late"
    return _share(
        value,
        (f"aucune facture réglée ou échue {late_fr}", f"no settled or overdue invoice {late_en}"),
        (f"toutes les factures réglées ou échues sont {late_fr}",
         f"all settled or overdue invoices are {late_en}"),
        (f"{{}} des factures réglées ou échues sont {late_fr}",
         f"{{}} of settled or overdue invoices are {late_en}"),
    )  # fmt: skip


def _known_severe_share(value: float, get: Lookup) -> Texts | None:
    late_fr, late_en = (
        f"en retard de plus de {SEVERE_DAYS} jours",
        f"more than {SEVERE_DAYS} days late",
    )
    return _share(
        value,
        (f"aucune facture réglée ou échue {late_fr}", f"no settled or overdue invoice {late_en}"),
        (f"toutes les factures réglées ou échues sont {late_fr}",
         f"all settled or overdue invoices are {late_en}"),
        (f"{{}} des factures réglées ou échues sont {late_fr}",
         f"{{}} of settled or overdue invoices are {late_en}"),
    )  # fmt: skip


def _days_since_last_settlement(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    fr, en = _ago(value)
    return f"dernière facture réglée {fr}", f"last invoice settled {en}"


def _dispute_rate(value: float, get: Lookup) -> Texts | None:
    return _share(
        value,
        ("aucune facture contestée", "no invoice disputed"),
        ("toutes les factures ont été contestées", "every invoice was disputed"),
        ("{} des factures ont été contestées", "{} of invoices were disputed"),
    )


def _days_late_mean(value: float, get: Lookup) -> Texts | None:
    if math.isnan(value):
        return None
    days = _whole(value)
    fr, en = _days(abs(days))
    if days > 0:
        return f"retard moyen de {fr}", f"{en} late on average"
    if days < 0:
        return f"payées en moyenne {fr} avant l'échéance", f"paid {en} early on average"
    return "payées en moyenne à l'échéance", "paid on the due date on average"


def _days_late_max(value: float, get: Lookup) -> Texts | None:
    if math.isnan(value):
        return None
    if _whole(value) <= 0:
        return "aucune facture payée après l'échéance", "no invoice paid after the due date"
    fr, en = _days(_whole(value))
    return f"plus long retard{NBSP}: {fr}", f"longest delay: {en}"


def _window(get: Lookup, at_least: int = 0) -> int | None:
    """How many invoices "the last ones" are: RECENT, or fewer when fewer were settled."""
    settled = get("settled_count")
    window = RECENT if math.isnan(settled) else min(RECENT, _whole(settled))
    window = max(window, at_least)
    return window if window > 0 else None


def _last(window: int) -> tuple[str, str, str]:
    """(French, English, French "paid" agreed) for "the last n invoices"."""
    if window == 1:
        return "la dernière facture", "the last invoice", "payée"
    return f"les {window} dernières factures", f"the last {window} invoices", "payées"


def _recent_days_late_mean(value: float, get: Lookup) -> Texts | None:
    window = _window(get)
    if math.isnan(value) or window is None:
        return None
    last_fr, last_en, paid = _last(window)
    mean_fr, mean_en = (" moyen", " on average") if window > 1 else ("", "")
    on_average = " en moyenne" if window > 1 else ""
    days = _whole(value)
    fr, en = _days(abs(days))
    if days > 0:
        return f"retard{mean_fr} de {fr} sur {last_fr}", f"{en} late{mean_en} for {last_en}"
    if days < 0:
        return (f"{last_fr} {paid}{on_average} {fr} avant l'échéance",
                f"{last_en} paid {en} early{mean_en}")  # fmt: skip
    return f"{last_fr} {paid}{on_average} à l'échéance", f"{last_en} paid on the due date{mean_en}"


def _recent_late30_count(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    late = _whole(value)
    window = _window(get, at_least=late)
    if window is None or window > RECENT:
        return None
    if window == 1:
        if late:
            return ("la dernière facture payée avec plus de 30 jours de retard",
                    "the last invoice paid more than 30 days late")  # fmt: skip
        return ("la dernière facture payée avec au plus 30 jours de retard",
                "the last invoice paid at most 30 days late")  # fmt: skip
    if late == 0:
        return (f"aucune des {window} dernières factures payée avec plus de 30 jours de retard",
                f"none of the last {window} invoices paid more than 30 days late")  # fmt: skip
    paid = "payée" if late == 1 else "payées"
    return (f"{late} des {window} dernières factures {paid} avec plus de 30 jours de retard",
            f"{late} of the last {window} invoices paid more than 30 days late")  # fmt: skip


def _days_late_trend(value: float, get: Lookup) -> Texts | None:
    window = _window(get)
    if math.isnan(value) or window is None:
        return None
    last_fr, last_en, _ = _last(window)
    days = _whole(value)
    fr, en = _days(abs(days))
    if days > 0:
        return (
            f"retards en hausse{NBSP}: +{fr} sur {last_fr}",
            f"delays rising: +{en} over {last_en}",
        )
    if days < 0:
        return (
            f"retards en baisse{NBSP}: -{fr} sur {last_fr}",
            f"delays falling: -{en} over {last_en}",
        )
    return f"retards stables sur {last_fr}", f"delays steady over {last_en}"


def _invoices(
    count: float, amount: float, words_fr: tuple[str, str], words_en: tuple[str, str], none: Texts
) -> Texts | None:
    """The "n invoices (amount)" sentence, from whichever of the two is known."""
    if count < 0 or (math.isnan(count) and not amount >= 0):
        return None
    if count == 0 or (math.isnan(count) and amount == 0):
        return none
    if math.isnan(count):
        fr, en = _euros(amount)
        return f"{words_fr[1]}{NBSP}: {fr}", f"{words_en[1]}: {en}"
    fr, en = _plural(_whole(count), words_fr, words_en)
    if math.isnan(amount):
        return fr, en
    amount_fr, amount_en = _euros(amount)
    return f"{fr} ({amount_fr})", f"{en} ({amount_en})"


def _open(count: float, amount: float) -> Texts | None:
    return _invoices(
        count,
        amount,
        ("facture en cours", "factures en cours"),
        ("open invoice", "open invoices"),
        ("aucune facture en cours", "no open invoice"),
    )


def _overdue(count: float, amount: float) -> Texts | None:
    return _invoices(
        count,
        amount,
        ("facture échue impayée", "factures échues impayées"),
        ("overdue invoice unpaid", "overdue invoices unpaid"),
        ("aucune facture échue impayée", "no unpaid overdue invoice"),
    )


def _overdue_days_mean(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    fr, en = _days(_whole(value))
    return (f"factures échues impayées depuis {fr} en moyenne",
            f"overdue invoices unpaid for {en} on average")  # fmt: skip


def _oldest_overdue_days(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    fr, en = _days(_whole(value))
    return (f"la plus ancienne facture impayée a {fr} de retard",
            f"the oldest unpaid invoice is {en} overdue")  # fmt: skip


def _terms_vs_usual(value: float, get: Lookup) -> Texts | None:
    if math.isnan(value):
        return None
    days = _whole(value)
    fr, en = _days(abs(days))
    if days > 0:
        return f"délai demandé supérieur de {fr} à l'habitude", f"terms {en} longer than usual"
    if days < 0:
        return f"délai demandé inférieur de {fr} à l'habitude", f"terms {en} shorter than usual"
    return "délai demandé habituel pour ce client", "usual payment terms for this customer"


# ---- the order ---------------------------------------------------------------------------------


def _amount_log(value: float, get: Lookup) -> Texts | None:
    amount = _from_log(value)
    if amount is None:
        return None
    fr, en = _euros(amount)
    return f"facture de {fr}", f"invoice of {en}"


def _terms_days(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    if _whole(value) == 0:
        return "paiement comptant demandé", "payment requested on receipt"
    fr, en = _days(_whole(value))
    return f"délai demandé de {fr}", f"requested payment terms of {en}"


def _po_required(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        ("le client exige un numéro de bon de commande",
         "the customer requires a purchase order number"),
        ("pas de numéro de bon de commande exigé", "no purchase order number required"),
    )  # fmt: skip


def _po_missing(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        ("numéro de bon de commande exigé mais absent de la commande",
         "purchase order number required but missing from the order"),
        ("numéro de bon de commande fourni ou non exigé",
         "purchase order number given or not required"),
    )  # fmt: skip


_MONTHS = (
    ("janvier", "January"), ("février", "February"), ("mars", "March"), ("avril", "April"),
    ("mai", "May"), ("juin", "June"), ("juillet", "July"), ("août", "August"),
    ("septembre", "September"), ("octobre", "October"), ("novembre", "November"),
    ("décembre", "December"),
)  # fmt: skip


def _issue_month(value: float, get: Lookup) -> Texts | None:
    month = _code(value)
    if month is None or month > 12:
        return None
    fr, en = _MONTHS[month - 1]
    return f"facture émise en {fr}", f"invoice issued in {en}"


def _due_month(value: float, get: Lookup) -> Texts | None:
    month = _code(value)
    if month is None or month > 12:
        return None
    fr, en = _MONTHS[month - 1]
    return f"échéance en {fr}", f"due in {en}"


def _month_end_issue(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        ("facture émise en fin de mois", "invoice issued at the end of the month"),
        ("facture émise hors fin de mois", "invoice not issued at the end of the month"),
    )


# ---- the company -------------------------------------------------------------------------------


_UNKNOWN_COMPANY = ("entreprise inconnue du registre", "company not found in the registry")


def _has_company(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        ("entreprise identifiée au registre", "company found in the registry"),
        _UNKNOWN_COMPANY,
    )


def _from_registry(render: Render) -> Render:
    """A registry sentence that reads a missing value of an unknown company as "unknown"."""

    def sentence(value: float, get: Lookup) -> Texts | None:
        if math.isnan(value) and get("has_company") == 0:
            return _UNKNOWN_COMPANY
        return render(value, get)

    return sentence


def _company_age_years(value: float, get: Lookup) -> Texts | None:
    if not value >= 0:
        return None
    fr, en = _ago(value * 365.25)
    return f"entreprise créée {fr}", f"company created {en}"


def _share_capital_log(value: float, get: Lookup) -> Texts | None:
    capital = _from_log(value)
    if capital is None:
        return None
    if capital == 0:
        return "aucun capital social", "no share capital"
    fr, en = _euros(capital)
    return f"capital social de {fr}", f"share capital of {en}"


# INSEE legal categories (catégories juridiques), the common ones by code, then by family.
_LEGAL_FORMS: dict[int, Texts] = {
    1000: ("entrepreneur individuel (EI)", "sole proprietorship (EI)"),
    5202: ("SNC", "general partnership (SNC)"),
    5306: ("SCS", "limited partnership (SCS)"),
    5308: ("SCA", "partnership limited by shares (SCA)"),
    5485: ("SELARL", "professional limited company (SELARL)"),
    5498: ("EURL", "single-member limited company (EURL)"),
    5499: ("SARL", "limited company (SARL)"),
    5599: ("SA", "public limited company (SA)"),
    5699: ("SA à directoire", "public limited company with a management board (SA)"),
    5710: ("SAS", "simplified joint-stock company (SAS)"),
    5720: ("SASU", "single-member simplified joint-stock company (SASU)"),
    5785: ("SELAS", "professional simplified joint-stock company (SELAS)"),
    5800: ("société européenne (SE)", "European company (SE)"),
    6220: ("GIE", "economic interest grouping (GIE)"),
    6317: ("coopérative agricole", "agricultural cooperative"),
    6533: ("GAEC", "farming partnership (GAEC)"),
    6540: ("SCI", "property company (SCI)"),
    6598: ("EARL", "limited farming company (EARL)"),
    6599: ("société civile", "non-trading company (société civile)"),
    7210: ("commune", "municipality"),
    7220: ("département", "département (county council)"),
    7230: ("région", "region"),
    7344: ("métropole", "metropolitan authority"),
    7346: ("communauté de communes", "community of municipalities"),
    7348: ("communauté d'agglomération", "urban community (communauté d'agglomération)"),
    9220: ("association déclarée", "registered association"),
}
_LEGAL_FAMILIES: dict[int, Texts] = {
    54: ("SARL", "limited company (SARL)"),
    55: ("SA", "public limited company (SA)"),
    56: ("SA", "public limited company (SA)"),
    57: ("SAS", "simplified joint-stock company (SAS)"),
    65: ("société civile", "non-trading company (société civile)"),
    72: ("collectivité territoriale", "local authority"),
    73: ("établissement public local", "local public body"),
    92: ("association", "association"),
}


def _legal_form(value: float, get: Lookup) -> Texts | None:
    code = _code(value)
    if code is None:
        return None
    names = _LEGAL_FORMS.get(code) or _LEGAL_FAMILIES.get(code // 100)
    if names is None:
        return f"forme juridique {code}", f"legal form {code}"
    return f"forme juridique{NBSP}: {names[0]}", f"legal form: {names[1]}"


def _sole_trader(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        ("entrepreneur individuel", "sole trader"),
        ("société, pas un entrepreneur individuel", "a company, not a sole trader"),
    )


# NAF rev. 2 divisions (the first two digits of the activity code).
_NAF_DIVISIONS: dict[int, Texts] = {
    1: ("agriculture", "agriculture"), 2: ("sylviculture", "forestry"),
    3: ("pêche et aquaculture", "fishing and aquaculture"),
    **dict.fromkeys(range(5, 10), ("industries extractives", "mining and quarrying")),
    10: ("industrie alimentaire", "food manufacturing"), 11: ("boissons", "beverages"),
    12: ("tabac", "tobacco"), 13: ("textile", "textiles"), 14: ("habillement", "clothing"),
    15: ("cuir et chaussure", "leather and footwear"), 16: ("travail du bois", "wood products"),
    17: ("papier et carton", "paper and board"), 18: ("imprimerie", "printing"),
    19: ("raffinage", "refining"), 20: ("chimie", "chemicals"),
    21: ("industrie pharmaceutique", "pharmaceuticals"),
    22: ("caoutchouc et plastique", "rubber and plastics"),
    23: ("verre, céramique et matériaux", "glass, ceramics and building materials"),
    24: ("métallurgie", "basic metals"), 25: ("produits métalliques", "metal products"),
    26: ("électronique et informatique", "electronics and computers"),
    27: ("équipements électriques", "electrical equipment"),
    28: ("machines et équipements", "machinery"), 29: ("industrie automobile", "motor vehicles"),
    30: ("autres matériels de transport", "other transport equipment"),
    31: ("meubles", "furniture"), 32: ("autres industries", "other manufacturing"),
    33: ("réparation et installation de machines", "repair and installation of machinery"),
    35: ("énergie", "energy supply"), 36: ("eau", "water supply"),
    37: ("assainissement", "sewerage"), 38: ("déchets", "waste management"),
    39: ("dépollution", "remediation"), 41: ("construction de bâtiments", "building construction"),
    42: ("génie civil", "civil engineering"), 43: ("construction", "construction"),
    45: ("commerce et réparation automobile", "motor trade and repair"),
    46: ("commerce de gros", "wholesale"), 47: ("commerce de détail", "retail"),
    49: ("transport terrestre", "land transport"), 50: ("transport par eau", "water transport"),
    51: ("transport aérien", "air transport"),
    52: ("entreposage et logistique", "warehousing and logistics"),
    53: ("poste et courrier", "postal and courier services"),
    55: ("hébergement", "accommodation"), 56: ("restauration", "food service"),
    58: ("édition", "publishing"), 59: ("audiovisuel", "film, video and music"),
    60: ("radio et télévision", "broadcasting"), 61: ("télécommunications", "telecommunications"),
    62: ("informatique", "IT services"), 63: ("services d'information", "information services"),
    64: ("services financiers", "financial services"), 65: ("assurance", "insurance"),
    66: ("auxiliaires financiers", "auxiliary financial services"),
    68: ("immobilier", "real estate"),
    69: ("activités juridiques et comptables", "legal and accounting services"),
    70: ("conseil de gestion", "management consulting"),
    71: ("architecture et ingénierie", "architecture and engineering"),
    72: ("recherche et développement", "research and development"),
    73: ("publicité et études de marché", "advertising and market research"),
    74: ("services spécialisés", "other professional services"),
    75: ("vétérinaires", "veterinary services"), 77: ("location", "rental and leasing"),
    78: ("emploi et intérim", "employment and temping"),
    79: ("agences de voyage", "travel agencies"), 80: ("sécurité", "security services"),
    81: ("nettoyage et services aux bâtiments", "cleaning and building services"),
    82: ("services administratifs", "office support services"),
    84: ("administration publique", "public administration"), 85: ("enseignement", "education"),
    86: ("santé", "health"), 87: ("hébergement médico-social", "residential care"),
    88: ("action sociale", "social work"), 90: ("arts et spectacles", "arts and entertainment"),
    91: ("bibliothèques et musées", "libraries and museums"), 92: ("jeux de hasard", "gambling"),
    93: ("sport et loisirs", "sports and recreation"),
    94: ("organisations associatives", "membership organisations"),
    95: ("réparation d'ordinateurs et de biens personnels", "repair of computers and goods"),
    96: ("services personnels", "personal services"), 97: ("ménages employeurs", "households"),
    98: ("ménages producteurs", "households"),
    99: ("organisations extraterritoriales", "extraterritorial organisations"),
}  # fmt: skip


def _naf_division(value: float, get: Lookup) -> Texts | None:
    division = _code(value)
    if division is None or division > 99:
        return None
    names = _NAF_DIVISIONS.get(division)
    if names is None:
        return f"division NAF {division:02d}", f"NAF division {division:02d}"
    return (f"secteur{NBSP}: {names[0]} (NAF {division:02d})",
            f"sector: {names[1]} (NAF {division:02d})")  # fmt: skip


_BAND_WORDS: dict[str, Texts] = {
    "NN": ("aucun salarié déclaré", "no declared employees"),
    "00": ("aucun salarié déclaré", "no declared employees"),
    "01": ("1 ou 2 salariés", "1 or 2 employees"), "02": ("3 à 5 salariés", "3 to 5 employees"),
    "03": ("6 à 9 salariés", "6 to 9 employees"), "11": ("10 à 19 salariés", "10 to 19 employees"),
    "12": ("20 à 49 salariés", "20 to 49 employees"),
    "21": ("50 à 99 salariés", "50 to 99 employees"),
    "22": ("100 à 199 salariés", "100 to 199 employees"),
    "31": ("200 à 249 salariés", "200 to 249 employees"),
    "32": ("250 à 499 salariés", "250 to 499 employees"),
    "41": ("500 à 999 salariés", "500 to 999 employees"),
    "42": (f"1{NBSP}000 à 1{NBSP}999 salariés", "1,000 to 1,999 employees"),
    "51": (f"2{NBSP}000 à 4{NBSP}999 salariés", "2,000 to 4,999 employees"),
    "52": (f"5{NBSP}000 à 9{NBSP}999 salariés", "5,000 to 9,999 employees"),
    "53": (f"10{NBSP}000 salariés ou plus", "10,000 employees or more"),
}  # fmt: skip
_HEADCOUNT_WORDS = {rank: _BAND_WORDS[band] for band, rank in HEADCOUNT_ORDER.items()}


def _headcount(value: float, get: Lookup) -> Texts | None:
    words = _HEADCOUNT_WORDS.get(_whole(value)) if value >= 0 else None
    if words is None:
        return None
    return f"effectif{NBSP}: {words[0]}", f"headcount: {words[1]}"


# ---- the accounts ------------------------------------------------------------------------------

_NO_ACCOUNTS = ("aucun compte annuel publié", "no published annual accounts")
_CONFIDENTIAL = ("comptes déposés en confidentialité", "accounts filed as confidential")


def _missing_figure(get: Lookup) -> Texts | None:
    """What a missing accounts figure says: no accounts, or confidential ones, or nothing."""
    if get("has_accounts") != 1:
        return _NO_ACCOUNTS
    return _CONFIDENTIAL if get("accounts_confidential") == 1 else None


def _from_accounts(render: Render) -> Render:
    """A sentence on an accounts figure that reads NaN as "no published accounts"."""

    def sentence(value: float, get: Lookup) -> Texts | None:
        return _missing_figure(get) if math.isnan(value) else render(value, get)

    return sentence


def _has_accounts(value: float, get: Lookup) -> Texts | None:
    return _flag(value, ("comptes annuels publiés", "annual accounts published"), _NO_ACCOUNTS)


@_from_accounts
def _accounts_confidential(value: float, get: Lookup) -> Texts | None:
    return _flag(value, _CONFIDENTIAL, ("comptes publiés en entier", "accounts published in full"))


@_from_accounts
def _accounts_age_days(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return None
    fr, en = _ago(value)
    return f"derniers comptes clos {fr}", f"last accounts closed {en}"


@_from_accounts
def _revenue_log(value: float, get: Lookup) -> Texts | None:
    revenue = _from_log(value)
    if revenue is None:
        return None
    if revenue == 0:
        return "chiffre d'affaires nul", "no revenue"
    fr, en = _euros(revenue)
    return f"chiffre d'affaires de {fr}", f"revenue of {en}"


@_from_accounts
def _revenue_growth(value: float, get: Lookup) -> Texts | None:
    if _whole(value * 100) == 0:
        return "chiffre d'affaires stable", "revenue flat"
    fr, en = _percent(abs(value))
    if value < 0:
        return f"chiffre d'affaires en baisse de {fr}", f"revenue down {en}"
    return f"chiffre d'affaires en hausse de {fr}", f"revenue up {en}"


@_from_accounts
def _net_margin(value: float, get: Lookup) -> Texts | None:
    if _whole(value * 100) == 0:
        return "résultat net à l'équilibre", "net result at break-even"
    fr, en = _percent(abs(value))
    if value < 0:
        return f"perte nette de {fr} du chiffre d'affaires", f"net loss of {en} of revenue"
    return f"marge nette de {fr}", f"net margin of {en}"


_NEGATIVE_EQUITY = (
    "capitaux propres négatifs dans les derniers comptes",
    "negative equity in the last accounts",
)


@_from_accounts
def _equity_ratio(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return _NEGATIVE_EQUITY
    if value == 0:
        return "capitaux propres nuls", "zero equity"
    fr, en = _percent(value)
    return f"capitaux propres de {fr} du total du bilan", f"equity at {en} of total assets"


@_from_accounts
def _negative_equity(value: float, get: Lookup) -> Texts | None:
    return _flag(
        value,
        _NEGATIVE_EQUITY,
        ("capitaux propres positifs dans les derniers comptes",
         "positive equity in the last accounts"),
    )  # fmt: skip


@_from_accounts
def _liquidity_ratio(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return None
    if value == 0:
        return "aucun actif à court terme", "no current assets"
    fr, en = _times(value)
    return (f"actifs à court terme égaux à {fr} fois les dettes à court terme",
            f"current assets {en} times current liabilities")  # fmt: skip


@_from_accounts
def _cash_ratio(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return None
    if value == 0:
        return "aucune trésorerie", "no cash"
    fr, en = _times(value)
    return (f"trésorerie égale à {fr} fois les dettes à court terme",
            f"cash {en} times current liabilities")  # fmt: skip


@_from_accounts
def _debt_ratio(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return None
    if value == 0:
        return "aucune dette", "no debt"
    fr, en = _percent(value)
    return f"dettes égales à {fr} du total du bilan", f"debt at {en} of total assets"


@_from_accounts
def _dso_days(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return None
    if _whole(value) == 0:
        return ("le client est payé comptant par ses clients (DSO nul)",
                "the customer's own customers pay it on receipt (zero DSO)")  # fmt: skip
    fr, en = _days(_whole(value))
    return (f"le client est payé par ses propres clients en {fr} (DSO)",
            f"the customer's own customers pay it in {en} (DSO)")  # fmt: skip


@_from_accounts
def _dpo_days(value: float, get: Lookup) -> Texts | None:
    if value < 0:
        return None
    if _whole(value) == 0:
        return ("le client paie ses fournisseurs comptant (DPO nul)",
                "the customer pays its suppliers on receipt (zero DPO)")  # fmt: skip
    fr, en = _days(_whole(value))
    return (
        f"le client paie ses fournisseurs en {fr} (DPO)",
        f"the customer pays its suppliers in {en} (DPO)",
    )


# ---- insolvency proceedings --------------------------------------------------------------------

_PROCEEDING_WORDS: dict[int, Texts] = {
    1: ("procédure de conciliation ouverte", "conciliation proceedings opened"),
    2: ("procédure de sauvegarde ou plan arrêté par le tribunal",
        "safeguard proceedings or a court-approved plan"),
    3: ("procédure de redressement judiciaire ouverte",
        "receivership proceedings (redressement judiciaire) opened"),
    4: ("liquidation judiciaire ou clôture prononcée", "judicial liquidation or closure ordered"),
}  # fmt: skip
assert set(_PROCEEDING_WORDS) == set(PROCEEDING_SEVERITY.values())
_NO_PROCEEDINGS = ("aucune procédure collective connue", "no known insolvency proceedings")


def _proceedings(
    severity: float, count: float, days: float, *, counted: bool = False
) -> Texts | None:
    """The latest insolvency step, how long ago, and (if `counted`) how many steps in all."""
    if severity == 0 or count == 0:
        return _NO_PROCEEDINGS
    if severity < 0 or count < 0 or all(math.isnan(x) for x in (severity, count, days)):
        return None
    words = _PROCEEDING_WORDS.get(_code(severity) or 0)
    if words is None and math.isnan(severity):
        words = ("procédure collective", "insolvency proceedings")
    elif words is None:
        level_fr, level_en = _number(severity, 0 if severity.is_integer() else 1)
        words = (
            f"procédure collective (niveau {level_fr})",
            f"insolvency proceedings (level {level_en})",
        )
    fr, en = words
    if days >= 0:
        ago_fr, ago_en = _ago(days)
        fr, en = f"{fr} {ago_fr}", f"{en} {ago_en}"
    if counted and count >= 2:
        count_fr, count_en = _number(_whole(count))
        fr, en = f"{fr} ({count_fr} jugements au total)", f"{en} ({count_en} judgments in all)"
    return fr, en


def _proceeding_severity(value: float, get: Lookup) -> Texts | None:
    return _proceedings(value, get("proceedings_count"), get("days_since_proceeding"))


def _proceedings_count(value: float, get: Lookup) -> Texts | None:
    return _proceedings(
        get("proceeding_severity"), value, get("days_since_proceeding"), counted=True
    )


def _days_since_proceeding(value: float, get: Lookup) -> Texts | None:
    return _proceedings(get("proceeding_severity"), get("proceedings_count"), value)


# ---- the table ---------------------------------------------------------------------------------


def _open_count(value: float, get: Lookup) -> Texts | None:
    return _open(value, get("open_amount"))


def _open_amount(value: float, get: Lookup) -> Texts | None:
    return _open(get("open_count"), value)


def _overdue_count(value: float, get: Lookup) -> Texts | None:
    return _overdue(value, get("overdue_amount"))


def _overdue_amount(value: float, get: Lookup) -> Texts | None:
    return _overdue(get("overdue_count"), value)


_HISTORY: dict[str, Sentence] = {
    "prior_invoices": Sentence(_prior_invoices, topic="history"),
    "prior_amount_mean": Sentence(_prior_amount_mean),
    "amount_vs_usual": Sentence(_amount_vs_usual),
    "relationship_days": Sentence(_relationship_days),
    "settled_count": Sentence(_settled_count),
    "settled_late_share": Sentence(_settled_late_share),
    "settled_severe_share": Sentence(_settled_severe_share),
    "days_late_mean": Sentence(_days_late_mean),
    "days_late_max": Sentence(_days_late_max),
    "recent_days_late_mean": Sentence(_recent_days_late_mean),
    "recent_late30_count": Sentence(_recent_late30_count),
    "days_late_trend": Sentence(_days_late_trend),
    "days_since_last_settlement": Sentence(_days_since_last_settlement),
    "known_late_share": Sentence(_known_late_share),
    "known_severe_share": Sentence(_known_severe_share),
    "open_count": Sentence(_open_count, topic="open"),
    "open_amount": Sentence(_open_amount, topic="open"),
    "overdue_count": Sentence(_overdue_count, topic="overdue"),
    "overdue_amount": Sentence(_overdue_amount, topic="overdue"),
    "overdue_days_mean": Sentence(_overdue_days_mean),
    "oldest_overdue_days": Sentence(_oldest_overdue_days),
    "dispute_rate": Sentence(_dispute_rate),
    "terms_vs_usual": Sentence(_terms_vs_usual),
}
_REGISTRY: dict[str, Sentence] = {
    "company_age_years": Sentence(_company_age_years),
    "share_capital_log": Sentence(_share_capital_log),
    "legal_form": Sentence(_legal_form, topic="legal_form"),
    "naf_division": Sentence(_naf_division),
    "headcount": Sentence(_headcount),
    "sole_trader": Sentence(_sole_trader, topic="legal_form"),
}
# Every feature's sentence: the test suite checks that each of FEATURES has one.
SENTENCES: Mapping[str, Sentence] = {
    "has_history": Sentence(_has_history, topic="history"),
    **{name: Sentence(_from_history(s.render), s.topic) for name, s in _HISTORY.items()},
    "amount_log": Sentence(_amount_log),
    "terms_days": Sentence(_terms_days),
    "po_required": Sentence(_po_required, topic="purchase_order"),
    "po_missing": Sentence(_po_missing, topic="purchase_order"),
    "issue_month": Sentence(_issue_month),
    "due_month": Sentence(_due_month),
    "month_end_issue": Sentence(_month_end_issue),
    "has_company": Sentence(_has_company),
    **{name: Sentence(_from_registry(s.render), s.topic) for name, s in _REGISTRY.items()},
    "has_accounts": Sentence(_has_accounts),
    "accounts_confidential": Sentence(_accounts_confidential),
    "accounts_age_days": Sentence(_accounts_age_days),
    "revenue_log": Sentence(_revenue_log),
    "revenue_growth": Sentence(_revenue_growth),
    "net_margin": Sentence(_net_margin),
    "equity_ratio": Sentence(_equity_ratio, topic="equity"),
    "negative_equity": Sentence(_negative_equity, topic="equity"),
    "liquidity_ratio": Sentence(_liquidity_ratio),
    "cash_ratio": Sentence(_cash_ratio),
    "debt_ratio": Sentence(_debt_ratio),
    "dso_days": Sentence(_dso_days),
    "dpo_days": Sentence(_dpo_days),
    "proceedings_count": Sentence(_proceedings_count, topic="proceedings"),
    "proceeding_severity": Sentence(_proceeding_severity, topic="proceedings"),
    "days_since_proceeding": Sentence(_days_since_proceeding, topic="proceedings"),
}


# ---- choosing the reasons ----------------------------------------------------------------------


def describe(feature: str, features: Mapping[str, float]) -> Texts | None:
    """The (French, English) sentence of one feature of a row, or None if it says nothing."""

    def get(name: str) -> float:
        return _float(features.get(name, math.nan))

    return SENTENCES[feature].render(get(feature), get)


def explain(
    features: Mapping[str, float],
    contributions: Mapping[str, float],
    *,
    count: int = 4,
    min_contribution: float = 0.02,
) -> list[Reason]:
    """At most `count` reasons for one row, the largest absolute contributions first.

    Contributions below `min_contribution` in absolute value, the `bias` column, unknown
    columns and features whose value makes no sentence are passed over.
    """
    _check(count, min_contribution)

    def get(name: str) -> float:
        return _float(features.get(name, math.nan))

    candidates = [
        (name, value)
        for name, value in ((n, _float(c)) for n, c in contributions.items() if n in SENTENCES)
        if _eligible(abs(value), min_contribution)
    ]
    candidates.sort(key=lambda item: -abs(item[1]))  # stable: ties keep the column order
    return _pick(candidates, get, count)


def explain_frame(
    features: pd.DataFrame,
    contributions: pd.DataFrame,
    *,
    count: int = 4,
    min_contribution: float = 0.02,
) -> list[list[Reason]]:
    """`explain` for each row of two frames with the same index, ranked in one vectorised pass."""
    if not features.index.equals(contributions.index):
        raise ValueError("features and contributions must have the same index, row for row")
    return explain_rows(
        features.to_numpy(dtype=float), tuple(features.columns),
        contributions.to_numpy(dtype=float), tuple(contributions.columns),
        count=count, min_contribution=min_contribution,
    )  # fmt: skip


def explain_rows(
    features: np.ndarray,
    feature_names: tuple[str, ...],
    contributions: np.ndarray,
    contribution_names: tuple[str, ...],
    *,
    count: int = 4,
    min_contribution: float = 0.02,
) -> list[list[Reason]]:
    """`explain_frame` of rows held as arrays whose columns are the names given (a service
    scoring a few rows skips the frames, which cost more than the ranking)."""
    _check(count, min_contribution)
    if len(features) != len(contributions):
        raise ValueError("give as many rows of contributions as of features")
    names, picked = _sentence_columns(contribution_names)
    values = contributions[:, picked]
    magnitude = np.abs(values)
    eligible = (magnitude >= min_contribution) & (magnitude > 0)
    order = np.argsort(-np.where(eligible, magnitude, -1.0), axis=1, kind="stable")
    ranked = eligible.sum(axis=1).tolist()
    # Most rows need only their first few candidates: turn those into Python objects at once.
    width = min(len(names), count + 4)
    head = order[:, :width]
    head_index, head_values = head.tolist(), np.take_along_axis(values, head, axis=1).tolist()
    columns, kept = _sentence_columns(feature_names)
    position = {name: i for i, name in enumerate(columns)}
    rows = features[:, kept]  # a copy: fancy indexing
    rows[~np.isfinite(rows)] = np.nan

    def candidates(i: int) -> Iterator[tuple[str, float]]:
        for j, value in zip(head_index[i][: ranked[i]], head_values[i], strict=False):
            yield names[j], value
        for j in order[i, width : ranked[i]].tolist():
            yield names[j], float(values[i, j])

    reasons = []
    for i, row in enumerate(rows):

        def get(name: str, row: np.ndarray = row) -> float:
            j = position.get(name)
            return math.nan if j is None else float(row[j])

        reasons.append(_pick(candidates(i), get, count))
    return reasons


@functools.lru_cache(maxsize=64)
def _sentence_columns(columns: tuple[object, ...]) -> tuple[list[str], list[int]]:
    """Found once per set of columns (every explanation of one model asks for the same); the
    lists are shared, for reading only."""
    found = [(str(name), j) for j, name in enumerate(columns) if name in SENTENCES]
    return [name for name, _ in found], [j for _, j in found]


def _check(count: int, min_contribution: float) -> None:
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    if not min_contribution >= 0:
        raise ValueError(f"min_contribution must be 0 or more, not {min_contribution}")


def _eligible(magnitude: float, min_contribution: float) -> bool:
    return magnitude >= min_contribution and magnitude > 0


def _pick(candidates: Iterable[tuple[str, float]], get: Lookup, count: int) -> list[Reason]:
    """The first `count` candidates that make a sentence, one per topic and per sentence."""
    reasons: list[Reason] = []
    topics: set[str] = set()
    texts: set[str] = set()
    if count == 0:
        return reasons
    for name, contribution in candidates:
        sentence = SENTENCES[name]
        topic = sentence.topic or name
        if topic in topics:
            continue
        said = sentence.render(get(name), get)
        if said is None or said[0] in texts:
            continue
        topics.add(topic)
        texts.add(said[0])
        direction: Direction = "raises" if contribution > 0 else "lowers"
        reasons.append(Reason(name, direction, contribution, said[0], said[1]))
        if len(reasons) == count:
            break
    return reasons
