"""The web pages' pure parts: texts in both languages, formats, the dunning standing of an
invoice, company search, exposure buckets, and where the model card finds plots."""

from __future__ import annotations

import gc
import re
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import InvalidSiren
from features.ledger import LedgerStore
from features.scoring_model import ScoringModel
from service.model_host import BundleDirectory, RegistryAlias
from service.terms.rules import DUNNING_CHANNELS, PAYMENT_METHODS, SETTLE_RULES, TONES
from service.web.dunning import DueMarker, plan_steps, standing, timeline
from service.web.exposure import BUCKETS, customer_exposure
from service.web.i18n import TEXTS, Translator, language_of
from service.web.model_card import ModelArtifactsCache, headline_metrics
from service.web.portfolio_view import over_limit_alerts
from service.web.search import find_companies

from ..service.conftest import TODAY

TEMPLATES = Path(__file__).resolve().parents[2] / "service" / "web" / "templates"
TERMS = {
    "deadline": {"days": 30, "basis": "invoice_date", "due_date": "2026-02-04"},
    "dunning_plan": [
        {"day_offset": 7, "channel": "phone", "tone": "firm", "level": 2, "scheduled_on": "x"},
        {"day_offset": -7, "channel": "email", "tone": "friendly", "level": 0, "scheduled_on": "y"},
        {"day_offset": 0, "channel": "payment", "tone": "friendly", "level": 0,
         "scheduled_on": None, "trigger": "payment"},
        {"day_offset": 1, "channel": "email", "tone": "firm", "level": 1, "scheduled_on": "z"},
    ],
}  # fmt: skip


def test_every_text_has_both_languages_and_every_key_used_exists() -> None:
    for key, (fr, en) in TEXTS.items():
        assert fr.strip(), key
        assert en.strip(), key
        # English may say more (an adjustment's detail is in English only), never less.
        assert set(re.findall(r"{(\w+)}", fr)) <= set(re.findall(r"{(\w+)}", en)), key
    used: set[str] = set()
    called = re.compile(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""")
    for template in TEMPLATES.glob("*.html"):
        used |= set(called.findall(template.read_text()))
    assert used - set(TEXTS) == set()
    # Keys built from values ("channel_" ~ step.channel): every value the domain gives has one.
    built = {f"channel_{c}" for c in DUNNING_CHANNELS} | {f"tone_{t}" for t in TONES}
    built |= {f"settle_{r}" for r in SETTLE_RULES} | {f"method_{m}" for m in PAYMENT_METHODS}
    built |= {f"bucket_{b}" for b in BUCKETS} | {f"level_{v}" for v in ("stable", "watch", "act")}
    assert built - set(TEXTS) == set()


def test_formats_follow_the_language() -> None:
    fr, en = Translator("fr"), Translator("en")
    assert fr.money(12500.5, 2) == "12\u00a0500,50\u00a0€"
    assert en.money(12500.5, 2) == "€12,500.50"
    assert fr.percent(0.298) == "29,8\u00a0%"
    assert en.day(date(2026, 1, 5)) == "2026-01-05"
    assert fr.day("2026-01-05") == "05/01/2026"
    assert language_of("en", "fr") == "en"
    assert language_of("xx", "en") == "en"
    assert language_of(None, None) == "fr"


def test_the_due_date_sits_between_reminders_before_and_after_it() -> None:
    items = timeline(TERMS)
    offsets = [("due" if isinstance(i, DueMarker) else i.day_offset) for i in items]
    assert offsets == [-7, "due", 1, 7, 0]  # the thank-you waits for the payment: last


@pytest.mark.parametrize(
    ("days_past_due", "current", "due_today", "following"),
    [(-10, None, False, -7), (-7, -7, True, 1), (3, 1, False, 7), (7, 7, True, None),
     (40, 7, False, None)],
)  # fmt: skip
def test_an_open_invoice_stands_at_the_last_step_reached(
    days_past_due: int, current: int | None, due_today: bool, following: int | None
) -> None:
    found = standing(plan_steps(TERMS), days_past_due)
    assert (found.current.day_offset if found.current else None) == current
    assert found.due_today is due_today
    assert (found.following.day_offset if found.following else None) == following


@pytest.fixture(scope="module")
def store(data_dir: Path) -> LedgerStore:
    return LedgerStore.open(f"sqlite:///{data_dir / 'credit_risk.db'}")


def test_search_by_siren_name_prefix_and_contains(store: LedgerStore, portfolio: dict) -> None:
    company = portfolio["company"].iloc[0]
    [found] = find_companies(store, str(company["siren"]))
    assert found.name == company["name"]
    by_name = find_companies(store, str(company["name"])[:4].lower())
    assert company["name"] in {m.name for m in by_name}
    assert all(m.name.lower().startswith(str(company["name"])[:4].lower()) for m in by_name[:1])
    assert find_companies(store, "%") == [] or all(
        "%" in m.name for m in find_companies(store, "%")
    )
    with pytest.raises(InvalidSiren, match="Luhn"):
        find_companies(store, "123456789")


def test_exposure_buckets_add_up_to_the_open_amounts(store: LedgerStore) -> None:
    exposure = customer_exposure(store, TODAY)
    frame = exposure.by_customer
    assert set(BUCKETS) <= set(frame.columns)
    assert frame[list(BUCKETS)].sum(axis=1).round(2).equals(frame["open_amount"].round(2))
    assert (frame["overdue_amount"] <= frame["open_amount"] + 1e-6).all()
    assert sum(exposure.aged.values()) == pytest.approx(frame["open_amount"].sum())


def test_the_model_card_finds_plots_beside_a_bundle(model_dir: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(model_dir, tmp_path / "bundle"))
    model = ScoringModel.load(bundle)
    assert ModelArtifactsCache().refresh(model, BundleDirectory(bundle)).plots == ()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "roc_late.png").write_bytes(b"\x89PNG")
    (tmp_path / "plots" / "../notes.txt").write_text("not a plot")
    found = ModelArtifactsCache().refresh(model, BundleDirectory(bundle))
    assert found.plots == ("roc_late.png",)
    assert not found.registry


# MLflow's SQLAlchemy store uses the `noload` strategy, deprecated in SQLAlchemy 2.1.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_the_model_card_scratch_is_made_on_a_registry_fetch_and_removed_with_it(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    model = ScoringModel.load(model_dir)
    ModelArtifactsCache().refresh(model, BundleDirectory(model_dir))
    assert list(scratch.iterdir()) == []  # a bundle directory's plots are beside it
    cache = ModelArtifactsCache()
    registry = RegistryAlias(f"sqlite:///{tmp_path / 'mlflow.db'}", "credit-risk", "champion")
    found = cache.refresh(model, registry)
    assert found.registry
    assert found.champion is None  # an empty registry: nothing to show
    [made] = scratch.iterdir()
    assert made.name.startswith("credit-risk-model-card-")
    del cache
    gc.collect()
    assert not made.exists()


def test_headline_metrics_are_the_models_own() -> None:
    metrics = {"late_roc_auc": 0.75, "prospects.late_roc_auc": 0.71, "all.oracle.late_roc_auc": 0.8,
               "seconds_total": 30.0, "late_n": 100.0}  # fmt: skip
    assert [name for name, _ in headline_metrics(metrics)] == [
        "late_roc_auc", "prospects.late_roc_auc"
    ]  # fmt: skip


def test_only_customers_on_a_credit_line_are_alerted_above_it() -> None:
    book = pd.DataFrame(
        {
            "name": ["Over", "Within", "Prepaid", "Unknown"],
            "grade": ["B", "B", "E", "C"],
            "credit_limit": [1000.0, 5000.0, 0.0, float("nan")],
            "open_amount": [1500.0, 4000.0, 9000.0, 9000.0],
        },
        index=pd.Index(["C1", "C2", "C3", "C4"], name="customer_id"),
    )
    alerts = over_limit_alerts(book)
    assert [(a.customer_id, a.open_amount, a.credit_limit) for a in alerts] == [
        ("C1", 1500.0, 1000.0)
    ]
