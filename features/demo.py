"""A simulated portfolio of French B2B customers whose payment behaviour has causes.

The demo data must teach a model something true. Who pays late is decided here by causes that a
model can observe later, directly or through their traces: the customer's own payment habit (seen
in its history and in the trade payables of its accounts), its sector, size and age, its financial
health (seen in its published accounts), coming insolvency proceedings, and the invoice's amount,
dispute, missing purchase order, terms and due month. Each invoice's true probabilities are kept
in `demo_oracle`, so that a trained model can be compared with the best achievable.

The simulation runs in this order: companies, yearly financial health, insolvency proceedings,
published accounts, customer accounts, invoices, payment outcomes, settlements. Dates are whole
days since 1970-01-01 in numpy arrays; everything per invoice is vectorised.
"""

from __future__ import annotations

import argparse
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from features.schemas import TABLES, TableSpec
from features.siren import luhn_check_digit

__all__ = [
    "SECTORS",
    "TERMS",
    "InvoiceCauses",
    "Sector",
    "generate_portfolio",
    "invoice_outcomes",
    "portfolio_summary",
    "sector_group",
    "true_probabilities",
]

Progress = Callable[[str, float], None]
Days = np.ndarray  # whole days since 1970-01-01, int64

EPOCH = date(1970, 1, 1)
YEAR = 365.25
NEVER = np.int64(10**7)  # a day far beyond any real date: "no such event"
LATE_DAYS = 5  # paid more than 5 days after the due date counts as late
SEVERE_DAYS = 60  # more than 60 days late (or never) counts as severe
LONGEST_SEVERE_DELAY = 360  # a debt still unpaid a year after its due date is never paid
DEFAULT_INVOICES_PER_YEAR = 34.0  # per customer: ~300k invoices for 3000 companies, 4 years
PROSPECT_SHARE = 0.2
OPENING_HEALTH = -2.1  # health below which a company goes through insolvency proceedings
TERMS = ("30 days", "45 days end of month", "60 days")  # never beyond the legal 60 days


@dataclass(frozen=True, slots=True)
class Sector:
    """A group of NAF divisions whose companies share payment habits and economics."""

    name: str
    naf_codes: tuple[str, ...]
    weight: float  # share of the companies in the portfolio
    late_shift: float  # added to the logit of P(late): the sector's payment culture
    severe_shift: float  # added to the logit of P(severe | late): how often late turns bad
    health_mean: float  # long-run financial health (0 = an ordinary company)
    health_drift: float  # yearly trend of health
    terms_mix: tuple[float, float, float]  # shares of the TERMS
    revenue_per_head: float  # annual revenue per employee, EUR
    net_margin: float
    asset_intensity: float  # total assets / revenue
    current_share: float  # current assets / total assets
    dso_days: float  # how long its own customers take to pay it
    trade_words: tuple[str, ...]  # words that make its company names look right
    public_body: bool = False  # publishes no company accounts and cannot go insolvent


SECTORS: tuple[Sector, ...] = (
    Sector("construction", ("41.20A", "41.20B", "42.11Z", "43.12A", "43.21A", "43.22A", "43.22B",
           "43.31Z", "43.32A", "43.34Z", "43.91B", "43.99C"), 0.16, 0.55, 0.30, -0.10, -0.03,
           (0.15, 0.50, 0.35), 150e3, 0.030, 0.70, 0.75, 70,
           ("Bâtiment", "Maçonnerie", "Électricité", "Plomberie", "Charpente", "Couverture",
            "Menuiserie", "Travaux Publics", "Peinture", "Rénovation")),
    Sector("wholesale", ("46.18Z", "46.31Z", "46.39B", "46.44Z", "46.49Z", "46.69B", "46.73A",
           "46.74A", "46.90Z"), 0.12, 0.10, 0.00, 0.10, 0.00, (0.30, 0.50, 0.20), 450e3, 0.025,
           0.45, 0.80, 55, ("Distribution", "Négoce", "Import", "Fournitures", "Diffusion")),
    Sector("retail", ("47.11B", "47.11D", "47.19B", "47.21Z", "47.52A", "47.59B", "47.71Z",
           "47.78C"), 0.09, 0.15, 0.15, 0.00, -0.02, (0.60, 0.30, 0.10), 220e3, 0.025, 0.50,
           0.60, 8, ("Boutique", "Magasin", "Maison", "Comptoir", "Optique")),
    Sector("food manufacturing", ("10.13A", "10.13B", "10.51A", "10.71A", "10.71C", "10.82Z",
           "10.89Z", "11.01Z", "11.02B", "11.07A"), 0.06, -0.25, -0.10, 0.15, 0.00,
           (0.90, 0.10, 0.00), 260e3, 0.035, 0.60, 0.55, 40,
           ("Salaisons", "Fromagerie", "Conserverie", "Biscuiterie", "Brasserie", "Minoterie")),
    Sector("transport", ("49.32Z", "49.39A", "49.41A", "49.41B", "49.41C", "49.42Z"), 0.06,
           0.30, 0.20, -0.05, -0.02, (0.80, 0.20, 0.00), 130e3, 0.020, 0.70, 0.45, 50,
           ("Transports", "Logistique", "Fret", "Messagerie", "Déménagements")),
    Sector("hospitality", ("55.10Z", "55.20Z", "56.10A", "56.10C", "56.21Z", "56.30Z"), 0.07,
           0.45, 0.45, -0.25, -0.03, (0.70, 0.20, 0.10), 75e3, 0.030, 0.80, 0.25, 5,
           ("Hôtel", "Restaurant", "Brasserie", "Auberge", "Traiteur", "Café")),
    Sector("IT", ("62.01Z", "62.02A", "62.02B", "62.03Z", "62.09Z"), 0.07, -0.45, -0.30, 0.30,
           0.02, (0.30, 0.40, 0.30), 140e3, 0.060, 0.60, 0.80, 75,
           ("Informatique", "Logiciels", "Systèmes", "Digital", "Data", "Réseaux")),
    Sector("business services", ("70.10Z", "70.22Z", "71.11Z", "71.12B", "73.11Z", "73.20Z",
           "74.10Z", "74.90B"), 0.11, -0.20, -0.10, 0.20, 0.01, (0.35, 0.35, 0.30), 115e3,
           0.070, 0.70, 0.75, 65,
           ("Conseil", "Ingénierie", "Études", "Architecture", "Communication", "Expertise")),
    Sector("health", ("86.10Z", "86.21Z", "86.22C", "86.23Z", "86.90A", "86.90D"), 0.05,
           -0.30, -0.50, 0.35, 0.01, (0.50, 0.30, 0.20), 95e3, 0.060, 0.90, 0.40, 30,
           ("Clinique", "Cabinet Médical", "Laboratoire", "Centre de Santé", "Radiologie")),
    Sector("manufacturing", ("25.11Z", "25.62A", "25.62B", "25.73B", "26.51B", "27.12Z",
           "28.22Z", "28.29B", "28.41Z"), 0.10, 0.00, -0.05, 0.10, 0.00, (0.20, 0.50, 0.30),
           190e3, 0.040, 0.90, 0.60, 60,
           ("Mécanique", "Métallerie", "Chaudronnerie", "Usinage", "Industries", "Fonderie")),
    Sector("agriculture", ("01.11Z", "01.13Z", "01.21Z", "01.24Z", "01.41Z", "01.47Z",
           "01.50Z"), 0.05, 0.20, 0.10, -0.05, -0.01, (0.40, 0.30, 0.30), 160e3, 0.040, 1.80,
           0.35, 45, ("Domaine", "Ferme", "Vergers", "Élevage", "Cultures", "Vignobles")),
    # Public bodies pay slowly (a long approval chain) but they do pay: late, rarely severe.
    Sector("public sector", ("84.11Z", "84.12Z", "84.13Z", "84.21Z", "84.24Z"), 0.03, 0.95,
           -2.50, 1.00, 0.00, (1.00, 0.00, 0.00), 60e3, 0.0, 1.0, 0.5, 30, (),
           public_body=True),
)  # fmt: skip

_DIVISION_SECTOR = {code[:2]: sector.name for sector in SECTORS for code in sector.naf_codes}
_SECTOR_INDEX = {sector.name: index for index, sector in enumerate(SECTORS)}
_LATE_SHIFT = np.array([s.late_shift for s in SECTORS])
_SEVERE_SHIFT = np.array([s.severe_shift for s in SECTORS])

# Who pays: the names that make the portfolio look French.
SURNAMES = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefebvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
    "Muller", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier",
    "Legrand", "Gauthier", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel",
    "Mathieu", "Masson", "Marchand", "Duval", "Denis", "Dumont", "Lemaire", "Noël", "Meyer",
    "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet",
    "Gaillard", "Barbier", "Arnaud", "Le Gall", "Le Goff", "Caron", "Picard", "Roche",
)  # fmt: skip
FIRST_NAMES = (
    "Jean", "Marie", "Pierre", "Nathalie", "Philippe", "Isabelle", "Michel", "Sylvie", "Alain",
    "Catherine", "Nicolas", "Sophie", "Christophe", "Céline", "Laurent", "Valérie", "Stéphane",
    "Sandrine", "Julien", "Aurélie", "Thomas", "Camille", "Antoine", "Émilie", "Sébastien",
    "Claire", "Olivier", "Julie", "François", "Anne", "David", "Laure", "Hugo", "Léa", "Lucas",
    "Manon", "Karim", "Yasmine", "Mathieu", "Élodie",
)  # fmt: skip
TOWNS = (
    "Lyon", "Nantes", "Rennes", "Lille", "Bordeaux", "Toulouse", "Dijon", "Reims", "Angers",
    "Brest", "Tours", "Limoges", "Nancy", "Metz", "Rouen", "Caen", "Pau", "Niort", "Valence",
    "Annecy", "Chartres", "Vannes", "Quimper", "Colmar", "Poitiers", "Troyes", "Albi", "Agen",
    "Bayonne", "Cholet", "Laval", "Blois", "Auxerre", "Vienne", "Saintes", "Lorient",
)  # fmt: skip
REGIONS = (
    "Val de Loire", "Grand Ouest", "Sud-Ouest", "Pays Basque", "Bocage", "Littoral", "Jura",
    "Vexin", "Beauce", "Périgord", "Morvan", "Quercy", "Cotentin", "Vercors", "Luberon",
)  # fmt: skip
BRAND_STARTS = ("Alt", "Nova", "Arv", "Sol", "Ker", "Vert", "Lum", "Ter", "Oc", "Bel", "Mar",
                "Astr", "Hel", "Cap", "Lig")  # fmt: skip
BRAND_ENDS = ("ea", "is", "ia", "ys", "on", "al", "ine", "eo", "ane", "or", "ix")
CHANNELS = ("email", "sms", "phone", "letter")
CHANNEL_SHARES = (0.6, 0.1, 0.15, 0.15)

# Upper bounds of the INSEE headcount bands (tranche d'effectif salarié), after "00" = none.
_BAND_CODES = ("00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51",
               "52", "53")  # fmt: skip
_BAND_UPPER = np.array([0, 2, 5, 9, 19, 49, 99, 199, 249, 499, 999, 1999, 4999, 9999])

# Paid on time or slightly late: days after the due date, -10..5; most pay within a few days.
_ON_TIME_DAYS = np.arange(-10, LATE_DAYS + 1)
_ON_TIME_PMF = np.array([0.02] * 10 + [0.25, 0.15, 0.12, 0.10, 0.09, 0.09])
_ON_TIME_CDF = np.cumsum(_ON_TIME_PMF)
SEVERE_DELAY_SCALE = 55.0  # days beyond 60 for severe payers: a long, exponential tail

_KIND_WORDING = {
    "conciliation": "Ouverture d'une procédure de conciliation",
    "sauvegarde": "Jugement d'ouverture d'une procédure de sauvegarde",
    "redressement": "Jugement d'ouverture d'une procédure de redressement judiciaire",
    "liquidation": "Jugement d'ouverture d'une procédure de liquidation judiciaire",
    "plan": "Jugement arrêtant le plan",
    "cloture": "Jugement de clôture pour insuffisance d'actif",
}


def sector_group(naf_codes: pd.Series) -> pd.Series:
    """The demo sector group of each NAF code (by its division), "other" when unknown."""
    division = naf_codes.astype("string").str[:2]
    return division.map(_DIVISION_SECTOR).fillna("other").astype("string")


# ---- calendar --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Calendar:
    """The simulated period, in days since 1970-01-01."""

    start: int  # first day an invoice can be issued
    end: int  # the last day of the data ("today" for the generated ledger)
    origin: int  # health is simulated from two years before the start, for earlier accounts
    steps: int  # yearly health steps from origin to past the end

    @classmethod
    def ending(cls, end_date: date, years: int) -> _Calendar:
        start = pd.Timestamp(end_date) - pd.DateOffset(years=years) + pd.Timedelta(days=1)
        start_day = _day(start.date())
        origin = start_day - int(2 * YEAR)
        end = _day(end_date)
        return cls(start_day, end, origin, int(np.ceil((end - origin) / YEAR)) + 1)

    def step_day(self, step: np.ndarray | int) -> np.ndarray:
        return (self.origin + np.asarray(step) * YEAR).astype(np.int64)


def _day(value: date) -> int:
    return (value - EPOCH).days


def _as_dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970 as datetime64[s], NEVER as NaT."""
    out = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[s]")
    out[np.asarray(days) >= NEVER] = np.datetime64("NaT")
    return out


def _weekday(days: np.ndarray) -> np.ndarray:
    return (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def _month_end(days: np.ndarray) -> np.ndarray:
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    return ((month + 1).astype("datetime64[D]") - 1).astype(np.int64)


def _month(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1


def _previous_business_day(days: np.ndarray) -> np.ndarray:
    weekday = _weekday(days)
    return days - np.where(weekday >= 5, weekday - 4, 0)


def _nearest_business_day(days: np.ndarray) -> np.ndarray:
    weekday = _weekday(days)
    return days + np.select([weekday == 5, weekday == 6], [-1, 1], 0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _streams(seed: int, names: tuple[str, ...]) -> dict[str, np.random.Generator]:
    """One independent generator per stage, so changing one stage leaves the others' draws."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


# ---- companies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Registry:
    """Every company, customer or prospect; arrays indexed by company."""

    siren: np.ndarray
    name: np.ndarray
    sector: np.ndarray  # index into SECTORS
    naf_code: np.ndarray
    legal_form: np.ndarray
    creation: Days
    headcount: np.ndarray
    sole_trader: np.ndarray
    share_capital: np.ndarray
    revenue: np.ndarray  # annual revenue at the health origin
    habit: np.ndarray  # how late it pays its suppliers, persistent (logit units)
    prospect: np.ndarray

    @property
    def size(self) -> int:
        return len(self.siren)


def _draw_registry(rng: np.random.Generator, count: int, calendar: _Calendar) -> _Registry:
    weights = np.array([s.weight for s in SECTORS])
    sector = rng.choice(len(SECTORS), size=count, p=weights / weights.sum())
    public = np.array([s.public_body for s in SECTORS])[sector]
    sole_trader = ~public & (rng.random(count) < 0.08)
    headcount = _draw_headcount(rng, sole_trader, public)
    legal_form = _draw_legal_forms(rng, sector, headcount, sole_trader)
    revenue = np.array([s.revenue_per_head for s in SECTORS])[sector] * (headcount + 0.7)
    revenue = np.round(revenue * rng.lognormal(0.0, 0.45, count), -2)
    age_years = np.where(public, rng.uniform(30, 70, count), 0.3 + rng.gamma(1.3, 11.0, count))
    creation = calendar.end - np.minimum(age_years, 110) * YEAR
    naf_code = np.array([rng.choice(SECTORS[s].naf_codes) for s in sector])
    names = _company_names(rng, sector, legal_form, sole_trader)
    return _Registry(
        siren=_draw_sirens(rng, count),
        name=names,
        sector=sector,
        naf_code=naf_code,
        legal_form=legal_form,
        creation=creation.astype(np.int64),
        headcount=headcount,
        sole_trader=sole_trader,
        share_capital=_share_capital(rng, legal_form, revenue),
        revenue=revenue,
        habit=rng.normal(0.0, 0.9, count),
        prospect=rng.random(count) < PROSPECT_SHARE,
    )


def _draw_sirens(rng: np.random.Generator, count: int) -> np.ndarray:
    # Registered companies' SIRENs start with 3 to 9; the ninth digit is the Luhn checksum.
    stems = rng.choice(70_000_000, size=count, replace=False) + 30_000_000
    return np.array([f"{stem}{luhn_check_digit(str(stem))}" for stem in stems])


def _draw_headcount(
    rng: np.random.Generator, sole_trader: np.ndarray, public: np.ndarray
) -> np.ndarray:
    count = len(sole_trader)
    employees = np.floor(np.exp(rng.normal(1.6, 1.3, count))) - 1
    employees = np.where(sole_trader, rng.choice([0, 0, 0, 1, 2], count), employees)
    employees = np.where(public, np.floor(np.exp(rng.normal(3.5, 1.2, count))), employees)
    return np.clip(employees, 0, 20_000).astype(np.int64)


def _headcount_bands(rng: np.random.Generator, headcount: np.ndarray) -> np.ndarray:
    bands = np.array(_BAND_CODES)[np.searchsorted(_BAND_UPPER, headcount)]
    # Units with no declared staff are often left unbanded ("NN") in the registry.
    unknown = (headcount == 0) & (rng.random(len(headcount)) < 0.4)
    return np.where(unknown, "NN", bands)


def _draw_legal_forms(
    rng: np.random.Generator, sector: np.ndarray, headcount: np.ndarray, sole_trader: np.ndarray
) -> np.ndarray:
    count = len(sector)
    names = np.array([s.name for s in SECTORS])[sector]
    small = rng.choice(
        ["5720", "5710", "5499", "5498", "6540"], count, p=[0.25, 0.25, 0.30, 0.15, 0.05]
    )
    medium = rng.choice(["5710", "5499", "5599"], count, p=[0.55, 0.35, 0.10])
    large = rng.choice(["5710", "5599"], count, p=[0.6, 0.4])
    form = np.where(headcount < 10, small, np.where(headcount < 250, medium, large))
    farm = rng.choice(["6598", "6533", "5499", "5710"], count, p=[0.4, 0.2, 0.2, 0.2])
    form = np.where(names == "agriculture", farm, form)
    public = rng.choice(["7210", "7220", "7346", "7348"], count, p=[0.6, 0.05, 0.2, 0.15])
    form = np.where(names == "public sector", public, form)
    return np.where(sole_trader, "1000", form)


def _share_capital(
    rng: np.random.Generator, legal_form: np.ndarray, revenue: np.ndarray
) -> np.ndarray:
    # Capital is a round figure, loosely tied to size; an SA needs 37,000 EUR at least.
    raw = np.maximum(1000.0, revenue * 0.01 * rng.lognormal(0, 0.8, len(revenue)))
    magnitude = 10.0 ** np.floor(np.log10(raw))
    capital = magnitude * rng.choice([1.0, 1.5, 2.0, 5.0], len(raw))
    capital = np.where(legal_form == "5599", np.maximum(capital, 37_000.0), capital)
    no_capital = (legal_form == "1000") | np.char.startswith(legal_form.astype(str), "7")
    return np.where(no_capital, np.nan, capital)


def _company_names(
    rng: np.random.Generator, sector: np.ndarray, legal_form: np.ndarray, sole_trader: np.ndarray
) -> np.ndarray:
    # A loop per company is cheap here, and reads better than vectorised string assembly.
    names = []
    for s, form, person in zip(sector, legal_form, sole_trader, strict=True):
        surname, town = rng.choice(SURNAMES), rng.choice(TOWNS)
        if person:
            names.append(f"{rng.choice(FIRST_NAMES)} {surname}")
        elif form.startswith("7"):
            names.append(_public_name(form, town, str(rng.choice(REGIONS))))
        else:
            names.append(_trade_name(rng, SECTORS[s].trade_words, surname, town))
    return np.array(names, dtype=object)


def _public_name(form: str, town: str, region: str) -> str:
    return {
        "7210": f"Commune de {town}",
        "7220": f"Département du {region}",
        "7346": f"Communauté de communes du {region}",
    }.get(form, f"Communauté d'agglomération de {town}")


def _trade_name(rng: np.random.Generator, words: tuple[str, ...], surname: str, town: str) -> str:
    word = str(rng.choice(words))
    brand = f"{rng.choice(BRAND_STARTS)}{rng.choice(BRAND_ENDS)}"
    patterns = (
        f"{word} {surname}",
        f"Établissements {surname}",
        f"{surname} et Fils",
        f"{word} de {town}",
        f"{word} du {rng.choice(REGIONS)}",
        f"{brand} {word}",
        brand,
    )
    return patterns[rng.choice(len(patterns), p=[0.3, 0.1, 0.07, 0.18, 0.1, 0.15, 0.1])]


def _company_frame(
    registry: _Registry, bands: np.ndarray, ceased: Days, calendar: _Calendar
) -> pd.DataFrame:
    is_ceased = ceased <= calendar.end
    return _canonical(
        TABLES["company"],
        {
            "siren": registry.siren,
            "name": registry.name,
            "legal_form": registry.legal_form,
            "naf_code": registry.naf_code,
            "creation_date": _as_dates(registry.creation),
            "share_capital": registry.share_capital,
            "headcount_band": bands,
            "is_sole_trader": registry.sole_trader,
            "status": np.where(is_ceased, "ceased", "active"),
            "ceased_date": _as_dates(np.where(is_ceased, ceased, NEVER)),
        },
    )


# ---- financial health and insolvency ---------------------------------------------------------


def _draw_health(rng: np.random.Generator, registry: _Registry, calendar: _Calendar) -> np.ndarray:
    """Health per company at each yearly step: a mean-reverting walk with sector drift.

    Some companies enter a decline (a lost market, a bad debt of their own) and drift down for
    two years; those are most of the insolvencies.
    """
    n, steps = registry.size, calendar.steps
    sector = registry.sector
    mean = np.array([s.health_mean for s in SECTORS])[sector]
    drift = np.array([s.health_drift for s in SECTORS])[sector]
    age_at_origin = np.maximum(0.0, (calendar.origin - registry.creation) / YEAR)
    robustness = 0.12 * np.log1p(registry.headcount) - 0.7 * np.exp(-age_at_origin / 3.0)
    health = np.empty((n, steps + 1))
    health[:, 0] = mean + robustness + rng.normal(0.0, 0.85, n)
    decline_start = rng.integers(1, steps + 1, n)
    declining = rng.random(n) < 0.12
    for k in range(steps):
        in_decline = declining & (k >= decline_start - 1) & (k < decline_start + 1)
        step = 0.15 * (mean + robustness - health[:, k]) + drift + rng.normal(0.0, 0.4, n)
        health[:, k + 1] = health[:, k] + step - np.where(in_decline, 0.75, 0.0)
    # Nobody fails before the simulated period: those companies would not be in the portfolio.
    step_days = calendar.step_day(np.arange(steps + 1))
    before_start = step_days <= calendar.start
    health[:, before_start] = np.maximum(health[:, before_start], OPENING_HEALTH + 0.3)
    # Nor before its first year: a company is not created insolvent.
    unborn = step_days[None, :] <= registry.creation[:, None] + 365
    health[unborn] = np.maximum(health[unborn], OPENING_HEALTH + 0.3)
    public = np.array([s.public_body for s in SECTORS])[sector]
    health[public] = np.maximum(health[public], OPENING_HEALTH + 1.0)
    return health


def _health_at(
    health: np.ndarray, company: np.ndarray, day: Days, calendar: _Calendar
) -> np.ndarray:
    """Health of each company on each day, interpolated between the yearly steps."""
    position = np.clip((day - calendar.origin) / YEAR, 0.0, calendar.steps - 1e-9)
    step = position.astype(np.int64)
    fraction = position - step
    return health[company, step] * (1 - fraction) + health[company, step + 1] * fraction


@dataclass(frozen=True, slots=True)
class _Proceedings:
    """Insolvency dates per company (NEVER when none), and the legal_event rows."""

    opening: Days  # first judgment that freezes the company's earlier debts
    liquidation: Days
    events: pd.DataFrame


def _draw_proceedings(
    rng: np.random.Generator, registry: _Registry, health: np.ndarray, calendar: _Calendar
) -> _Proceedings:
    """Open proceedings where health first falls below OPENING_HEALTH, then follow them up.

    A plan gives the company a fresh start (its health is lifted in place); a liquidation ends
    it. Events after the end of the data have not happened yet and are left out.
    """
    opening_day = np.maximum(_first_crossing(health, calendar, OPENING_HEALTH), calendar.start)
    n = registry.size
    opening = np.full(n, NEVER, dtype=np.int64)
    liquidation = np.full(n, NEVER, dtype=np.int64)
    rows: list[tuple[int, int, str]] = []
    for company in np.flatnonzero(opening_day < calendar.end):
        chain = _proceeding_chain(rng, int(opening_day[company]))
        chain = [(day, kind) for day, kind in chain if registry.creation[company] < day]
        chain = [(day, kind) for day, kind in chain if day <= calendar.end]
        rows.extend((int(company), day, kind) for day, kind in chain)
        opening[company] = opening_day[company]
        liquidation[company] = min((d for d, k in chain if k == "liquidation"), default=NEVER)
        plan = min((d for d, k in chain if k == "plan"), default=NEVER)
        after_plan = calendar.step_day(np.arange(calendar.steps + 1)) > plan
        health[company, after_plan] = np.maximum(health[company, after_plan], OPENING_HEALTH + 1.2)
    rows.extend(_conciliations(rng, registry, health, calendar, opening))
    return _Proceedings(opening, liquidation, _legal_event_frame(registry, rows))


def _first_crossing(health: np.ndarray, calendar: _Calendar, level: float) -> Days:
    """The day each company's health first falls below `level` (NEVER when it does not)."""
    below = health[:, 1:] < level
    crosses = below.any(axis=1)
    step = np.argmax(below, axis=1)
    rows = np.arange(len(health))
    before, after = health[rows, step], health[rows, step + 1]
    fraction = np.clip((before - level) / np.maximum(before - after, 1e-9), 0.0, 1.0)
    day = (calendar.origin + (step + fraction) * YEAR).astype(np.int64)
    return np.where(crosses, day, NEVER)


def _proceeding_chain(rng: np.random.Generator, opening: int) -> list[tuple[int, str]]:
    """The judgments that follow an opening: most French proceedings end in liquidation."""
    kind = str(rng.choice(["sauvegarde", "redressement", "liquidation"], p=[0.1, 0.42, 0.48]))
    chain = [(opening, kind)]
    if rng.random() < 0.1:  # a failed attempt at an amicable settlement first
        chain.insert(0, (opening - int(rng.integers(60, 200)), "conciliation"))
    if kind != "liquidation":
        rescued = rng.random() < (0.85 if kind == "sauvegarde" else 0.45)
        if rescued:
            chain.append((opening + int(rng.integers(180, 540)), "plan"))
        else:
            chain.append((opening + int(rng.integers(30, 300)), "liquidation"))
    liquidated = [day for day, k in chain if k == "liquidation"]
    if liquidated:
        chain.append((liquidated[0] + int(rng.integers(365, 1100)), "cloture"))
    return chain


def _conciliations(
    rng: np.random.Generator,
    registry: _Registry,
    health: np.ndarray,
    calendar: _Calendar,
    opening: Days,
) -> list[tuple[int, int, str]]:
    # Some companies in difficulty negotiate with their creditors and recover without a court.
    warned = _first_crossing(health, calendar, OPENING_HEALTH + 0.6)
    candidates = (warned <= calendar.end) & (opening == NEVER) & (warned > calendar.start)
    chosen = np.flatnonzero(candidates & (rng.random(registry.size) < 0.15))
    return [(int(c), int(warned[c]), "conciliation") for c in chosen]


def _legal_event_frame(registry: _Registry, rows: list[tuple[int, int, str]]) -> pd.DataFrame:
    rows = sorted(rows, key=lambda row: (row[1], row[0]))
    company = np.array([r[0] for r in rows], dtype=np.int64)
    day = np.array([r[1] for r in rows], dtype=np.int64)
    kinds = [r[2] for r in rows]
    years = day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    ids = [f"BODACC-{year}-{number:06d}" for number, year in enumerate(years, start=1)]
    return _canonical(
        TABLES["legal_event"],
        {
            "event_id": ids,
            "siren": registry.siren[company],
            "event_date": _as_dates(day),
            "kind": kinds,
            "description": [_KIND_WORDING[k] for k in kinds],
            "source": ["demo"] * len(rows),
        },
    )


# ---- published accounts ----------------------------------------------------------------------


def _statement_frame(
    rng: np.random.Generator,
    registry: _Registry,
    health: np.ndarray,
    proceedings: _Proceedings,
    calendar: _Calendar,
) -> pd.DataFrame:
    """Annual accounts derived from each company's health and size, one fiscal year at a time.

    Sole traders and public bodies publish no accounts; small or failing companies sometimes
    file nothing; weaker companies file confidentially more often and publish later.
    """
    n = registry.size
    year_end_month = np.where(rng.random(n) < 0.75, 12, rng.choice([3, 6, 9, 3, 6, 9, 4, 7], n))
    confidential_bent = rng.random(n) < _sigmoid(
        -1.55 - 0.35 * health[:, 0] - 0.1 * np.log1p(registry.headcount)
    )
    files = ~registry.sole_trader & ~np.array([s.public_body for s in SECTORS])[registry.sector]
    log_revenue = np.log(registry.revenue)
    first_year = int(np.datetime64(calendar.origin, "D").astype("datetime64[Y]").astype(int)) + 1970
    last_year = int(np.datetime64(calendar.end, "D").astype("datetime64[Y]").astype(int)) + 1970
    parts = []
    for year in range(first_year, last_year + 1):
        year_end = _month_end(_first_of_month(year, year_end_month))
        company_health = _health_at(health, np.arange(n), year_end, calendar)
        log_revenue = log_revenue + 0.02 + 0.05 * company_health + rng.normal(0, 0.08, n)
        months = np.rint((year_end - registry.creation) / (YEAR / 12)).astype(np.int64)
        duration = np.where(months < 18, np.maximum(months, 6), 12)
        lag = rng.uniform(91, 220, n) + 25 * np.maximum(0.0, -company_health)
        published = year_end + np.minimum(lag, 243).astype(np.int64)
        not_filed = rng.random(n) < np.where(registry.headcount < 10, 0.06, 0.01) + np.where(
            year_end > proceedings.opening, 0.5, 0.0
        )
        kept = (
            files
            & (year_end >= registry.creation + 182)
            & (year_end < proceedings.liquidation)
            & (published <= calendar.end)
            & ~not_filed
        )
        confidential = confidential_bent ^ (rng.random(n) < 0.03)
        amounts = _statement_amounts(rng, registry, company_health, np.exp(log_revenue), duration)
        rows = {
            "siren": registry.siren,
            "fiscal_year_end": _as_dates(year_end),
            "publication_date": _as_dates(published),
            "confidential": confidential,
            "duration_months": duration,
        }
        for column, values in amounts.items():
            rows[column] = np.where(confidential, np.nan, values)
        parts.append(pd.DataFrame(rows)[kept])
    frame = pd.concat(parts, ignore_index=True).sort_values(["siren", "fiscal_year_end"])
    frame["source"] = "demo"
    return _canonical(TABLES["financial_statement"], frame)


def _first_of_month(year: int, month: np.ndarray) -> Days:
    months = (year - 1970) * 12 + (month - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _statement_amounts(
    rng: np.random.Generator,
    registry: _Registry,
    company_health: np.ndarray,
    annual_revenue: np.ndarray,
    duration: np.ndarray,
) -> dict[str, np.ndarray]:
    """A balance sheet and income statement consistent with health, size and payment habit."""
    n = registry.size
    sector = registry.sector
    h = company_health

    def param(name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in SECTORS])[sector]

    revenue = annual_revenue * duration / 12
    margin = np.clip(param("net_margin") + 0.035 * h + rng.normal(0, 0.015, n), -0.6, 0.35)
    total_assets = annual_revenue * param("asset_intensity") * rng.lognormal(0, 0.2, n)
    # Weak companies have thin or negative equity: losses have eaten it.
    equity = total_assets * (0.42 * np.tanh(0.8 + 0.55 * h) + rng.normal(0, 0.05, n))
    total_debt = total_assets - equity
    current_assets = total_assets * np.minimum(
        1.0, param("current_share") * rng.lognormal(0, 0.1, n)
    )
    cash = current_assets * np.clip(0.18 + 0.08 * h + rng.normal(0, 0.05, n), 0.01, 0.6)
    receivables = annual_revenue * param("dso_days") / 365 * rng.lognormal(0, 0.2, n)
    receivables = np.minimum(receivables, 0.9 * (current_assets - cash))
    # How fast it pays its own suppliers (DPO) follows its payment habit: a trace a model can use.
    dpo = np.clip(50 + 25 * registry.habit - 12 * h + rng.normal(0, 8, n), 5, 150)
    payables = np.minimum(annual_revenue * 0.6 * dpo / 365, 0.9 * total_debt)
    current_liabilities = payables + 0.35 * (total_debt - payables)
    return {
        "revenue": np.round(revenue),
        "net_income": np.round(revenue * margin),
        "equity": np.round(equity),
        "total_assets": np.round(total_assets),
        "total_debt": np.round(total_debt),
        "current_assets": np.round(current_assets),
        "current_liabilities": np.round(current_liabilities),
        "cash": np.round(cash),
        "trade_receivables": np.round(receivables),
        "trade_payables": np.round(payables),
    }


# ---- customer accounts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Accounts:
    """The supplier's customers (one per non-prospect company); arrays indexed by account."""

    company: np.ndarray  # index into the registry
    customer_id: np.ndarray
    usual_terms: np.ndarray  # index into TERMS
    usual_amount: np.ndarray
    yearly_invoices: np.ndarray
    po_required: np.ndarray
    batch_payer: np.ndarray  # pays several invoices with one transfer
    frame: pd.DataFrame


def _draw_accounts(
    rng: np.random.Generator, registry: _Registry, invoices_per_year: float
) -> _Accounts:
    company = np.flatnonzero(~registry.prospect)
    n = len(company)
    sector = registry.sector[company]
    width = max(5, len(str(n)))
    customer_id = np.array([f"C{i:0{width}d}" for i in range(1, n + 1)])
    terms_mix = np.array([s.terms_mix for s in SECTORS])[sector]
    usual_terms = _choose_terms(rng, terms_mix)
    size = np.log1p(registry.headcount[company])
    frequency = np.exp(0.3 * size) * rng.lognormal(0, 0.7, n)
    yearly = invoices_per_year * frequency / (frequency.mean() if n else 1.0)
    usual_amount = 1800 * (registry.revenue[company] / 1e6) ** 0.35 * rng.lognormal(0, 0.5, n)
    public = np.array([s.public_body for s in SECTORS])[sector]
    po_required = rng.random(n) < np.where(public, 0.6, 0.18)
    channel = rng.choice(CHANNELS, n, p=CHANNEL_SHARES)
    names = registry.name[company]
    frame = _canonical(
        TABLES["customer"],
        {
            "customer_id": customer_id,
            "siren": registry.siren[company],
            "name": names,
            **_payer_contacts(rng, names, registry.sole_trader[company]),
            "preferred_channel": channel,
            "po_required": po_required,
        },
    )
    return _Accounts(
        company=company,
        customer_id=customer_id,
        usual_terms=usual_terms,
        usual_amount=np.clip(usual_amount, 80, 500_000),
        yearly_invoices=yearly,
        po_required=po_required,
        batch_payer=rng.random(n) < 0.4,
        frame=frame,
    )


def _choose_terms(rng: np.random.Generator, terms_mix: np.ndarray) -> np.ndarray:
    """One index into TERMS per row of shares."""
    chosen = (rng.random((len(terms_mix), 1)) > np.cumsum(terms_mix, axis=1)).sum(axis=1)
    return np.minimum(chosen, len(TERMS) - 1)


def _payer_contacts(
    rng: np.random.Generator, names: np.ndarray, sole_trader: np.ndarray
) -> dict[str, list[str]]:
    payer_names, emails, phones = [], [], []
    for name, person in zip(names, sole_trader, strict=True):
        first, last = (
            name.split(" ", 1)
            if person
            else (str(rng.choice(FIRST_NAMES)), str(rng.choice(SURNAMES)))
        )
        domain = "orange.fr" if person else f"{_slug(name)}.fr"
        # Many payers are reached through a shared accounts-payable mailbox, not a person.
        shared = rng.random() < 0.3
        personal = f"{_slug(first)}.{_slug(last)}"
        mailbox = str(rng.choice(["compta", "comptabilite", "factures"])) if shared else personal
        prefix = rng.choice(["06", "07"]) if person else f"0{rng.integers(1, 6)}"
        digits = rng.integers(0, 100, 4)
        payer_names.append(f"{first} {last}")
        emails.append(f"{mailbox}@{domain}")
        phones.append(f"{prefix} " + " ".join(f"{d:02d}" for d in digits))
    return {"payer_name": payer_names, "payer_email": emails, "payer_phone": phones}


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


# ---- invoices --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Invoices:
    """Every invoice, sorted by issue date; arrays indexed by invoice."""

    account: np.ndarray  # index into the accounts
    issue: Days
    due: Days
    amount: np.ndarray
    amount_ratio: np.ndarray  # amount / the customer's usual amount
    disputed: np.ndarray
    missing_po: np.ndarray  # the customer requires a purchase order and none is quoted
    po_number: np.ndarray  # object array, None when absent


def _draw_invoices(
    rng: np.random.Generator,
    registry: _Registry,
    accounts: _Accounts,
    proceedings: _Proceedings,
    calendar: _Calendar,
) -> _Invoices:
    account, issue = _draw_issue_days(rng, registry, accounts, proceedings, calendar)
    sector = registry.sector[accounts.company[account]]
    terms = np.where(
        rng.random(len(issue)) < 0.9,
        accounts.usual_terms[account],
        _choose_terms(rng, np.array([s.terms_mix for s in SECTORS])[sector]),
    )
    due = _due_days(issue, terms)
    order = np.lexsort((account, issue))
    account, issue, due = account[order], issue[order], due[order]
    n = len(issue)
    ratio = rng.lognormal(0.0, 0.55, n) * np.where(rng.random(n) < 0.03, rng.uniform(3, 12, n), 1)
    amount = np.round(np.maximum(10.0, accounts.usual_amount[account] * ratio), 2)
    # Building sites argue more about what was delivered; big orders are argued about more.
    construction = registry.sector[accounts.company[account]] == _SECTOR_INDEX["construction"]
    disputed = rng.random(n) < np.where(construction, 0.035, 0.017) * np.where(ratio > 3, 2, 1)
    needs_po = accounts.po_required[account]
    quoted = np.where(needs_po, rng.random(n) < 0.88, rng.random(n) < 0.25)
    po_number = np.full(n, None, dtype=object)
    po_number[quoted] = np.char.add("BC", rng.integers(100000, 999999, quoted.sum()).astype(str))
    return _Invoices(
        account=account,
        issue=issue,
        due=due,
        amount=amount,
        amount_ratio=amount / accounts.usual_amount[account],
        disputed=disputed,
        missing_po=needs_po & ~quoted,
        po_number=po_number,
    )


def _draw_issue_days(
    rng: np.random.Generator,
    registry: _Registry,
    accounts: _Accounts,
    proceedings: _Proceedings,
    calendar: _Calendar,
) -> tuple[np.ndarray, Days]:
    """Issue days per account: busier for bigger customers, quieter in August, a month-end spike.

    A liquidated customer is invoiced no more.
    """
    company = accounts.company
    first = np.maximum(calendar.start, registry.creation[company] + 30)
    last = np.minimum(calendar.end, proceedings.liquidation[company] - 1)
    span = np.maximum(0, last - first + 1)
    expected = accounts.yearly_invoices * span / YEAR / 0.96  # August thinning gives back ~4%
    account = np.repeat(np.arange(len(company)), rng.poisson(expected))
    issue = first[account] + (rng.random(len(account)) * span[account]).astype(np.int64)
    quiet = (_month(issue) == 8) & (rng.random(len(issue)) < 0.45)
    account, issue = account[~quiet], issue[~quiet]
    month_end = _previous_business_day(_month_end(issue))
    to_month_end = (rng.random(len(issue)) < 0.3) & (month_end <= last[account])
    issue = np.where(to_month_end, month_end, issue)
    issue = np.clip(_nearest_business_day(issue), first[account], last[account])
    return account, issue


def _due_days(issue: Days, terms: np.ndarray) -> Days:
    """Due dates by the terms: 30 days, 45 days end of month (the end of the month in which the
    45th day falls: the legal alternative to 60 days, so it may reach 75 days), 60 days."""
    end_of_month_45 = _month_end(issue + 45)
    return np.select([terms == 0, terms == 1], [issue + 30, end_of_month_45], issue + 60)


def _invoice_frame(accounts: _Accounts, invoices: _Invoices) -> tuple[pd.DataFrame, np.ndarray]:
    """The invoice table, and the invoice ids (F<year>-<number within the year>)."""
    year = invoices.issue.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    first_of_year = np.searchsorted(year, year, side="left")  # issue-sorted, so years are too
    number = np.arange(len(year)) - first_of_year + 1
    invoice_id = np.array([f"F{y}-{k:07d}" for y, k in zip(year, number, strict=True)])
    frame = _canonical(
        TABLES["invoice"],
        {
            "invoice_id": invoice_id,
            "customer_id": accounts.customer_id[invoices.account],
            "issue_date": _as_dates(invoices.issue),
            "due_date": _as_dates(invoices.due),
            "amount": invoices.amount,
            "currency": np.full(len(year), "EUR"),
            "disputed": invoices.disputed,
            "po_number": invoices.po_number,
        },
    )
    return frame, invoice_id


# ---- payment behaviour -----------------------------------------------------------------------

_SEASON = np.zeros(13)
_SEASON[[1, 7, 8, 12]] = [0.10, 0.10, 0.45, 0.25]  # by due month: summer holidays, year end


@dataclass(frozen=True, slots=True)
class InvoiceCauses:
    """What drives the payment of each invoice (equal-length arrays, one entry per invoice)."""

    habit: np.ndarray  # the customer's persistent payment habit (logit units, 0 = ordinary)
    health: np.ndarray  # the customer's financial health at issue (0 = ordinary, < -2 failing)
    sector: np.ndarray  # index into SECTORS
    headcount: np.ndarray
    age_years: np.ndarray  # company age at issue
    amount_ratio: np.ndarray  # invoice amount / the customer's usual amount
    disputed: np.ndarray
    missing_po: np.ndarray  # a purchase order is required and the invoice quotes none
    due_month: np.ndarray  # 1..12
    terms_days: np.ndarray  # due date - issue date
    days_to_opening: np.ndarray  # until insolvency proceedings open (inf when none are coming)


def true_probabilities(causes: InvoiceCauses) -> tuple[np.ndarray, np.ndarray]:
    """Each invoice's true P(late) and P(severe), before any insolvency freezes its payment.

    P(late) is logistic in the causes; P(severe) = P(late) * P(severe | late), so it can never
    exceed P(late). Big companies pay a little later but rarely default; young and weak ones
    default more; debtors stretch their suppliers in the months before proceedings open.
    """
    size = np.log1p(causes.headcount)
    youth = np.exp(-causes.age_years / 2.5)
    log_ratio = np.log(causes.amount_ratio)
    distress = np.exp(-np.maximum(causes.days_to_opening, 0.0) / 150.0)
    late_logit = (
        -1.45
        + causes.habit
        + _LATE_SHIFT[causes.sector]
        - 0.55 * causes.health
        + 0.07 * size
        + 0.8 * youth
        + 0.25 * log_ratio
        + 1.6 * causes.disputed
        + 1.3 * causes.missing_po
        + _SEASON[causes.due_month]
        - 0.004 * (causes.terms_days - 45)  # short terms are missed more often
        + 1.2 * distress
    )
    severe_given_late = (
        -1.3
        + 0.5 * causes.habit
        + _SEVERE_SHIFT[causes.sector]
        - 0.6 * causes.health
        - 0.3 * size
        + 0.6 * youth
        + 0.3 * log_ratio
        + 0.8 * causes.disputed
        + 1.5 * distress
    )
    p_late = _sigmoid(late_logit)
    return p_late, p_late * _sigmoid(severe_given_late)


def _late_delay_scale(habit: np.ndarray) -> np.ndarray:
    """Scale of the days beyond 5 of a late (not severe) payment: habitual late payers run later."""
    return np.clip(14.0 * np.exp(0.3 * habit), 6.0, 30.0)


def _late_delay_cdf(days: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """P(a late, not severe, payment comes at most `days` after the due date)."""
    beyond = np.clip(days - LATE_DAYS, 0, SEVERE_DAYS - LATE_DAYS)
    return -np.expm1(-beyond / scale) / -np.expm1(-(SEVERE_DAYS - LATE_DAYS) / scale)


def _on_time_cdf(days: np.ndarray) -> np.ndarray:
    """P(an on-time payment comes at most `days` after the due date)."""
    index = np.clip(days - _ON_TIME_DAYS[0], -1, len(_ON_TIME_DAYS) - 1)
    return np.where(index < 0, 0.0, _ON_TIME_CDF[np.maximum(index, 0)])


def _frozen_probabilities(
    p_late: np.ndarray, p_severe: np.ndarray, days_to_freeze: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """True probabilities once a court judgment freezes every debt not paid by its date.

    A debt frozen by an opening judgment (or by the liquidation) is not paid within the data:
    it becomes severe. Only payments that would come before the judgment escape.
    """
    on_time_before = (1 - p_late) * _on_time_cdf(days_to_freeze)
    late_before = (p_late - p_severe) * _late_delay_cdf(days_to_freeze, scale)
    return 1 - on_time_before, 1 - on_time_before - late_before


def _draw_delays(
    rng: np.random.Generator,
    p_late: np.ndarray,
    p_severe: np.ndarray,
    late_scale: np.ndarray,
    never_share: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Days from due date to payment, and whether the invoice is never paid.

    One uniform draw decides the class (severe, late, on time), so the outcome follows the
    probabilities exactly; the delay within each class has its own distribution.
    """
    n = len(p_late)
    u = rng.random(n)
    severe = u < p_severe
    late = ~severe & (u < p_late)
    delay = rng.choice(_ON_TIME_DAYS, n, p=_ON_TIME_PMF)
    span = SEVERE_DAYS - LATE_DAYS
    # Inverse CDF of an exponential truncated to (0, span]: a long tail inside the late class.
    late_extra = -late_scale * np.log1p(-rng.random(n) * -np.expm1(-span / late_scale))
    delay = np.where(late, LATE_DAYS + np.maximum(np.ceil(late_extra), 1), delay)
    tail = LONGEST_SEVERE_DELAY - SEVERE_DAYS
    severe_extra = -SEVERE_DELAY_SCALE * np.log1p(
        -rng.random(n) * -np.expm1(-tail / SEVERE_DELAY_SCALE)
    )
    delay = np.where(severe, SEVERE_DAYS + np.maximum(np.ceil(severe_extra), 1), delay)
    never = severe & (rng.random(n) < never_share)
    return delay.astype(np.int64), never


def _banking_day(paid: Days, due: Days) -> Days:
    """Move a weekend payment to the nearest weekday, or to the other side of the weekend when
    that would change its class (on time, late, severe)."""
    weekday = _weekday(paid)
    nearest = np.select([weekday == 5, weekday == 6], [-1, 1], 0)  # Saturday back, Sunday on
    other_side = np.select([weekday == 5, weekday == 6], [2, -2], 0)
    delay = paid - due
    moved = delay + nearest
    crosses = np.zeros(len(paid), dtype=bool)
    for boundary in (LATE_DAYS, SEVERE_DAYS):
        crosses |= (delay > boundary) != (moved > boundary)
    return paid + np.where(crosses, other_side, nearest)


def _invoice_causes(
    registry: _Registry,
    accounts: _Accounts,
    invoices: _Invoices,
    health: np.ndarray,
    opening: Days,
    calendar: _Calendar,
) -> InvoiceCauses:
    company = accounts.company[invoices.account]
    issue, due = invoices.issue, invoices.due
    return InvoiceCauses(
        habit=registry.habit[company],
        health=_health_at(health, company, issue, calendar),
        sector=registry.sector[company],
        headcount=registry.headcount[company],
        age_years=(issue - registry.creation[company]) / YEAR,
        amount_ratio=invoices.amount_ratio,
        disputed=invoices.disputed,
        missing_po=invoices.missing_po,
        due_month=_month(due),
        terms_days=due - issue,
        days_to_opening=np.where(opening > issue, opening - issue, np.inf),
    )


def _settle(
    rng: np.random.Generator,
    registry: _Registry,
    accounts: _Accounts,
    invoices: _Invoices,
    health: np.ndarray,
    proceedings: _Proceedings,
    calendar: _Calendar,
) -> tuple[np.ndarray, np.ndarray, Days]:
    """The oracle's P(late) and P(severe) per invoice, and the day each is paid (NEVER if not)."""
    company = accounts.company[invoices.account]
    issue, due = invoices.issue, invoices.due
    opening, liquidation = proceedings.opening[company], proceedings.liquidation[company]
    causes = _invoice_causes(registry, accounts, invoices, health, opening, calendar)
    p_late, p_severe = true_probabilities(causes)
    scale = _late_delay_scale(causes.habit)
    never_share = _sigmoid(
        -0.9 - 0.45 * causes.health + 0.8 * causes.disputed - 0.2 * np.log1p(causes.headcount)
    )
    delay, never = _draw_delays(rng, p_late, p_severe, scale, never_share)
    # Debts still unpaid when proceedings open (or when the company is liquidated) are frozen.
    freeze = np.where(issue < opening, opening, np.where(issue < liquidation, liquidation, NEVER))
    never |= due + delay > freeze
    p_late, p_severe = _frozen_probabilities(p_late, p_severe, freeze - due, scale)
    # A weekend payment moves to a weekday, but never past the judgment that would freeze it.
    paid = _banking_day(due + delay, due)
    paid = np.where(paid > freeze, due + delay, paid)
    return p_late, p_severe, np.where(never, NEVER, paid)


def _payment_frame(
    rng: np.random.Generator,
    accounts: _Accounts,
    invoices: _Invoices,
    invoice_id: np.ndarray,
    paid: Days,
    calendar: _Calendar,
) -> pd.DataFrame:
    """Settlements: some invoices are paid in two parts, batch payers pay several at once.

    A payment after the end of the data has not happened yet: its invoice stays open.
    """
    settled = np.flatnonzero(paid < NEVER)
    days_open = paid[settled] - invoices.issue[settled]
    split = (rng.random(len(settled)) < 0.05) & (days_open >= 15)
    parts = settled[split]
    room = np.minimum(45, days_open[split] - 1)
    first_day = paid[parts] - (7 + rng.random(len(parts)) * (room - 7)).astype(np.int64)
    first_day = np.maximum(_previous_business_day(first_day), invoices.issue[parts])
    first_amount = np.round(invoices.amount[parts] * rng.uniform(0.3, 0.7, len(parts)), 2)
    final_amount = invoices.amount[settled].copy()
    final_amount[split] = np.round(final_amount[split] - first_amount, 2)
    invoice = np.concatenate([settled, parts])
    day = np.concatenate([paid[settled], first_day])
    amount = np.concatenate([final_amount, first_amount])
    account = invoices.account[invoice]
    grouped = np.concatenate(
        [accounts.batch_payer[account[: len(settled)]], np.zeros(len(parts), bool)]
    )
    kept = day <= calendar.end
    invoice, day, amount, account, grouped = (
        a[kept] for a in (invoice, day, amount, account, grouped)
    )
    order = np.lexsort((invoice, account, day))
    invoice, day, amount, account, grouped = (
        a[order] for a in (invoice, day, amount, account, grouped)
    )
    # A batch payer's settlements of one day share one transfer; any other is its own transfer.
    transfer = np.where(
        grouped, account * 100_000 + (day - calendar.origin), -1 - np.arange(len(day))
    )
    number = pd.factorize(transfer, sort=False)[0] + 1
    return _canonical(
        TABLES["payment"],
        {
            "payment_id": [f"P{k:08d}" for k in number],
            "invoice_id": invoice_id[invoice],
            "paid_date": _as_dates(day),
            "amount": amount,
            "match_rule": np.full(len(day), "canonical"),
        },
    )


# ---- the portfolio ---------------------------------------------------------------------------

_STAGES = (
    "companies",
    "health",
    "proceedings",
    "statements",
    "customers",
    "invoices",
    "payments",
    "settlements",
)


def generate_portfolio(
    seed: int = 7,
    companies: int = 3000,
    years: int = 4,
    end_date: date = date(2026, 10, 31),
    invoices_per_year: float | None = None,
    progress: Progress | None = None,
) -> dict[str, pd.DataFrame]:
    """A simulated portfolio as canonical frames keyed by table name, the same for the same seed.

    `companies` counts customers and prospects (about 20%, registry data only); invoices are
    issued over `years` years ending on `end_date`, about `invoices_per_year` per customer and
    year on average (34 by default: ~300,000 invoices for 3,000 companies over 4 years). Every
    date but a due date is on or before `end_date` (the book ends with invoices not yet due, as a
    real one does); payments that would come after `end_date` are left out. `demo_oracle`
    holds each invoice's true P(late) and P(severe); `progress(stage, fraction)` is told how far
    the generation is.
    """
    if companies < 1 or years < 1:
        raise ValueError(f"need at least one company and one year, got {companies} and {years}")
    per_year = DEFAULT_INVOICES_PER_YEAR if invoices_per_year is None else invoices_per_year
    if per_year <= 0:
        raise ValueError(f"invoices_per_year must be positive, got {per_year}")
    report = progress or (lambda stage, fraction: None)
    rng = _streams(seed, _STAGES)
    calendar = _Calendar.ending(end_date, years)
    registry = _draw_registry(rng["companies"], companies, calendar)
    health = _draw_health(rng["health"], registry, calendar)
    proceedings = _draw_proceedings(rng["proceedings"], registry, health, calendar)
    report("companies", 0.15)
    statements = _statement_frame(rng["statements"], registry, health, proceedings, calendar)
    report("financial statements", 0.25)
    accounts = _draw_accounts(rng["customers"], registry, per_year)
    invoices = _draw_invoices(rng["invoices"], registry, accounts, proceedings, calendar)
    invoice_frame, invoice_id = _invoice_frame(accounts, invoices)
    report("invoices", 0.55)
    p_late, p_severe, paid = _settle(
        rng["payments"], registry, accounts, invoices, health, proceedings, calendar
    )
    payments = _payment_frame(rng["settlements"], accounts, invoices, invoice_id, paid, calendar)
    report("payments", 0.9)
    bands = _headcount_bands(rng["companies"], registry.headcount)
    frames = {
        "company": _company_frame(registry, bands, proceedings.liquidation, calendar),
        "financial_statement": statements,
        "legal_event": proceedings.events,
        "customer": accounts.frame,
        "invoice": invoice_frame,
        "payment": payments,
        "demo_oracle": _canonical(
            TABLES["demo_oracle"],
            {"invoice_id": invoice_id, "p_late": p_late, "p_severe": p_severe},
        ),
    }
    report("done", 1.0)
    return frames


_DTYPES = {
    "string": "string",
    "date": "datetime64[s]",
    "float": "float64",
    "int": "Int64",
    "bool": "boolean",
}


def _canonical(spec: TableSpec, columns: Mapping[str, object] | pd.DataFrame) -> pd.DataFrame:
    """A frame with the table's columns in order and the dtypes `validate_table` produces."""
    typed = {}
    for spec_field in spec.fields:
        # Strings go through object arrays so that None becomes a missing value, not "None".
        as_object = object if spec_field.kind == "string" else None
        values = np.asarray(columns[spec_field.name], dtype=as_object)
        typed[spec_field.name] = pd.Series(values).astype(_DTYPES[spec_field.kind])
    return pd.DataFrame(typed)


# ---- what the portfolio looks like -----------------------------------------------------------

INSOLVENCY_KINDS = ("sauvegarde", "redressement", "liquidation")


def invoice_outcomes(
    frames: Mapping[str, pd.DataFrame], as_of: date | pd.Timestamp | None = None
) -> pd.DataFrame:
    """What had happened to each invoice by `as_of` (default: the last date in the data).

    days_late is the final delay of a settled invoice (NaN while open); an open invoice counts
    as late, or severe, once it is overdue by more than 5, or 60, days. `mature` marks the
    invoices whose late and severe labels can no longer change.
    """
    invoice, payment = frames["invoice"], frames["payment"]
    today = _as_of(frames, as_of)
    paid = (
        payment[payment["paid_date"] <= today]
        .groupby("invoice_id")
        .agg(paid_amount=("amount", "sum"), last_paid=("paid_date", "max"))
    )
    out = invoice[["invoice_id", "customer_id", "issue_date", "due_date", "amount"]].merge(
        paid, left_on="invoice_id", right_index=True, how="left"
    )
    settled = (out["paid_amount"] >= out["amount"] - 0.005).to_numpy(dtype=bool, na_value=False)
    days_late = (out["last_paid"] - out["due_date"]).dt.days.astype("float64")
    overdue = (today - out["due_date"]).dt.days.astype("float64")
    delay_so_far = np.where(settled, days_late, overdue)
    out["settled"] = settled
    out["days_late"] = np.where(settled, days_late, np.nan)
    out["late"] = delay_so_far > LATE_DAYS
    out["severe"] = delay_so_far > SEVERE_DAYS
    out["never_paid"] = out["paid_amount"].isna().to_numpy() & (overdue > LONGEST_SEVERE_DELAY)
    out["mature"] = overdue > SEVERE_DAYS
    return out.drop(columns=["paid_amount", "last_paid"])


def _as_of(frames: Mapping[str, pd.DataFrame], as_of: date | pd.Timestamp | None) -> pd.Timestamp:
    if as_of is not None:
        return pd.Timestamp(as_of)
    latest = [frames["invoice"]["due_date"].max(), frames["payment"]["paid_date"].max()]
    return pd.Timestamp(max(d for d in latest if pd.notna(d)))


def portfolio_summary(
    frames: Mapping[str, pd.DataFrame], as_of: date | pd.Timestamp | None = None
) -> dict[str, object]:
    """The portfolio's payment behaviour in figures: overall, by sector and by health quintile.

    Lateness is measured on invoices due more than 60 days before `as_of` (their labels are
    final); delays and never-paid shares on those due more than a year before (no open tail),
    so they are NaN for data shorter than that.
    """
    today = _as_of(frames, as_of)
    outcomes = invoice_outcomes(frames, today)
    outcomes["sector"] = _invoice_sectors(frames, outcomes)
    outcomes["health_quintile"] = _health_quintiles(frames, outcomes)
    mature = outcomes[outcomes["mature"]]
    settled_year = outcomes["due_date"] <= today - pd.Timedelta(days=LONGEST_SEVERE_DELAY + 5)
    old = outcomes[settled_year]
    paid_old = old[old["settled"]]
    return {
        "companies": len(frames["company"]),
        "customers": len(frames["customer"]),
        "invoices": len(frames["invoice"]),
        "payments": len(frames["payment"]),
        "share_late": float(mature["late"].mean()),
        "share_severe": float(mature["severe"].mean()),
        "share_never_paid": float(old["never_paid"].mean()),
        "mean_days_late": float(paid_old["days_late"].mean()),
        "mean_days_late_when_late": float(
            paid_old.loc[paid_old["days_late"] > LATE_DAYS, "days_late"].mean()
        ),
        "p95_days_late": float(paid_old["days_late"].quantile(0.95)),
        "share_late_by_sector": _by(mature, "sector", "late"),
        "mean_days_late_by_sector": _by(paid_old, "sector", "days_late"),
        "share_late_by_health_quintile": _by(mature, "health_quintile", "late"),
        "mean_days_late_by_health_quintile": _by(paid_old, "health_quintile", "days_late"),
        "share_customers_with_insolvency": _insolvent_customer_share(frames),
    }


def _by(frame: pd.DataFrame, group: str, value: str) -> dict[str, float]:
    means = frame.groupby(group, observed=True)[value].mean()
    return {str(key): round(float(mean), 4) for key, mean in means.items()}


def _invoice_sectors(frames: Mapping[str, pd.DataFrame], outcomes: pd.DataFrame) -> pd.Series:
    naf = frames["customer"].merge(frames["company"], on="siren", how="left")
    by_customer = pd.Series(sector_group(naf["naf_code"]).to_numpy(), index=naf["customer_id"])
    return outcomes["customer_id"].map(by_customer).fillna("other")


def _health_quintiles(frames: Mapping[str, pd.DataFrame], outcomes: pd.DataFrame) -> pd.Series:
    """Quintile of a simple health score from the accounts published before each invoice."""
    accounts = frames["financial_statement"]
    accounts = accounts[
        ~accounts["confidential"].astype(bool)
        & (accounts["total_assets"] > 0)
        & (accounts["revenue"] > 0)
    ]
    score = (
        accounts["equity"] / accounts["total_assets"] + accounts["net_income"] / accounts["revenue"]
    )
    known = pd.DataFrame(
        {"siren": accounts["siren"], "published": accounts["publication_date"], "score": score}
    ).sort_values("published")
    sirens = frames["customer"].set_index("customer_id")["siren"]
    invoices = pd.DataFrame(
        {
            "siren": outcomes["customer_id"].map(sirens),
            "issued": outcomes["issue_date"],
            "row": np.arange(len(outcomes)),
        }
    )
    matched = pd.merge_asof(
        invoices.sort_values("issued"), known, left_on="issued", right_on="published", by="siren"
    )
    matched = matched.sort_values("row")
    labels = ["Q1 weakest", "Q2", "Q3", "Q4", "Q5 strongest"]
    quintile = pd.qcut(matched["score"], 5, labels=labels).astype("object")
    return pd.Series(quintile.fillna("no public accounts").to_numpy(), index=outcomes.index)


def _insolvent_customer_share(frames: Mapping[str, pd.DataFrame]) -> float:
    events = frames["legal_event"]
    insolvent = set(events.loc[events["kind"].isin(INSOLVENCY_KINDS), "siren"])
    return float(frames["customer"]["siren"].isin(insolvent).mean())


def main(argv: list[str] | None = None) -> None:
    """Generate a portfolio and print how long it took and what it looks like."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--companies", type=int, default=3000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--invoices-per-year", type=float, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    frames = generate_portfolio(
        args.seed, args.companies, args.years, invoices_per_year=args.invoices_per_year
    )
    elapsed = time.perf_counter() - started
    print(f"generated in {elapsed:.1f} s: " + ", ".join(f"{k} {len(v)}" for k, v in frames.items()))
    for key, value in portfolio_summary(frames).items():
        if isinstance(value, dict):
            print(f"{key}:")
            for group, figure in value.items():
                print(f"  {group:<22} {figure:8.3f}")
        elif isinstance(value, float):
            print(f"{key:<32} {value:8.3f}")
        else:
            print(f"{key:<32} {value}")


if __name__ == "__main__":
    main()
