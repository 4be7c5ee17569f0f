"""Importers of public company data: company search JSON, INPI accounts, BODACC notices."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from features.errors import ConflictingRecord, ImportRejected
from features.importers.registry import (
    company_search_frames,
    import_bodacc_notices,
    import_company_search,
    import_inpi_accounts,
    judgment_kind,
    read_bodacc_notices,
    read_company_search,
    read_inpi_accounts,
)
from features.ledger import LedgerStore
from features.schemas import ROW

DATA = Path(__file__).parent / "data" / "registry"
SEARCH_TODAY = date(2023, 3, 15)
INPI_TODAY = date(2024, 1, 31)
BODACC_TODAY = date(2024, 6, 30)
# Valid SIRENs (Luhn checksum), made up for these tests.
SIREN_A, SIREN_B, SIREN_C = "833105927", "402123459", "300123452"
BAD_LUHN = "833105928"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    ledger = LedgerStore.open(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield ledger
    ledger.close()


def write_json(tmp_path: Path, value: object, name: str = "input.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def write_text(tmp_path: Path, text: str, name: str = "input.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rejection(call: object, *args: object, **kwargs: object) -> str:
    """The message of the ImportRejected that call(*args, **kwargs) raises."""
    with pytest.raises(ImportRejected) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(info.value)


def nothing_stored(store: LedgerStore) -> bool:
    return not any(store.counts().values())


def search_result(**overrides: object) -> dict[str, object]:
    result: dict[str, object] = {
        "siren": SIREN_A,
        "nom_complet": "ALPHA CONSTRUCTION",
        "nature_juridique": "5710",
        "activite_principale": "41.20A",
        "date_creation": "2017-11-02",
        "tranche_effectif_salarie": "11",
        "etat_administratif": "A",
        "date_fermeture": None,
        "complements": {"est_entrepreneur_individuel": False},
        "finances": {"2021": {"ca": 2500000, "resultat_net": 81000}},
        "siege": {"siret": SIREN_A + "00014"},
    }
    result.update(overrides)
    return result


def inpi_account(**overrides: object) -> dict[str, object]:
    account: dict[str, object] = {
        "siren": SIREN_A,
        "denomination": "ALPHA CONSTRUCTION",
        "dateCloture": "2022-12-31",
        "dateDepot": "2023-06-20",
        "confidentiality": "Public",
        "typeBilan": "C",
        "bilanSaisi": liasses(
            {
                "FL": {"m1": "000000000800", "m2": "000000000200", "m3": "000000001000"},
                "HN": {"m1": "-000000000050"},
            }
        ),
    }
    account.update(overrides)
    return account


def liasses(lines: Mapping[str, Mapping[str, object]], months: str = "12") -> dict[str, object]:
    items = [{"code": code, **columns} for code, columns in lines.items()]
    return {
        "bilan": {
            "identite": {"dureeExercice": months},
            "detail": {"pages": [{"numero": 1, "liasses": items}]},
        }
    }


def bodacc_notice(**overrides: object) -> dict[str, object]:
    notice: dict[str, object] = {
        "id": "A202300912345",
        "dateparution": "2023-05-12",
        "familleavis": "collective",
        "familleavis_lib": "Procédures collectives",
        "typeavis": "annonce",
        "registre": [f"{SIREN_A[:3]} {SIREN_A[3:6]} {SIREN_A[6:]}", SIREN_A],
        "commercant": "ALPHA CONSTRUCTION",
        "jugement": json.dumps(
            {
                "type": "initial",
                "famille": "Jugement d'ouverture",
                "nature": "Jugement d'ouverture d'une procédure de redressement judiciaire",
                "date": "2023-05-10",
            }
        ),
    }
    notice.update(overrides)
    return notice


def by(frame: pd.DataFrame, **where: object) -> pd.Series:
    """The one row of the frame matching every column = value."""
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == (pd.Timestamp(value) if isinstance(value, date) else value)
    assert mask.sum() == 1, f"{mask.sum()} rows match {where}"
    return frame[mask].iloc[0]


# ---- company search: happy paths ------------------------------------------------------------


def test_company_search_response_maps_companies_and_statements() -> None:
    frames = read_company_search(DATA / "company_search_response.json", today=SEARCH_TODAY)

    companies = frames["company"]
    assert list(companies["siren"]) == ["402123459", "512345679", "790456784"]
    assert list(companies[ROW]) == [1, 2, 3]
    batimat = by(companies, siren="402123459")
    assert batimat["name"] == "BATIMAT DISTRIBUTION"
    assert (batimat["legal_form"], batimat["naf_code"]) == ("5710", "46.73A")
    assert batimat["creation_date"] == pd.Timestamp("1995-06-12")
    assert (batimat["headcount_band"], batimat["status"]) == ("12", "active")
    assert not batimat["is_sole_trader"]
    sole_trader = by(companies, siren="512345679")
    assert sole_trader["is_sole_trader"]
    assert pd.isna(sole_trader["headcount_band"])
    ceased = by(companies, siren="790456784")
    assert ceased["status"] == "ceased"
    assert ceased["ceased_date"] == pd.Timestamp("2019-09-30")
    assert pd.isna(ceased["naf_code"])  # NAF rev. 1 code, not comparable with rev. 2

    statements = frames["financial_statement"]
    assert len(statements) == 3  # 2 years of BATIMAT, 1 of the ceased company, none for null
    fy2021 = by(statements, siren="402123459", fiscal_year_end=date(2021, 12, 31))
    assert (fy2021["revenue"], fy2021["net_income"]) == (8412350.0, 212004.0)
    assert fy2021["publication_date"] == pd.Timestamp("2022-07-31")  # 31 Dec + 7 months
    fy2022 = by(statements, siren="402123459", fiscal_year_end=date(2022, 12, 31))
    assert fy2022["net_income"] == -35120.0
    assert fy2022["publication_date"] == pd.Timestamp(SEARCH_TODAY)  # capped at today
    fy2018 = by(statements, siren="790456784")
    assert fy2018["revenue"] == 1200000.0
    assert pd.isna(fy2018["net_income"])
    assert set(statements["source"]) == {"company_search"}
    assert set(statements[ROW]) == {1, 3}
    assert any("publication dates are estimates" in note for note in frames.notes)
    assert any("older nomenclature" in note for note in frames.notes)


def test_company_search_sole_trader_from_legal_form_when_complements_absent() -> None:
    frames = company_search_frames(
        [search_result(complements=None, nature_juridique="1000")], "lookup", today=SEARCH_TODAY
    )
    assert frames["company"]["is_sole_trader"].tolist() == [True]


def test_company_search_other_envelopes_number_records_across_the_file(tmp_path: Path) -> None:
    first = search_result(siren=SIREN_A)
    second = search_result(siren=SIREN_B, nom_complet=None, nom_raison_sociale="BETA")
    third = search_result(siren=SIREN_C, finances=None)
    page = {"results": [first, second], "total_results": 3, "page": 1, "per_page": 2}
    as_list = write_json(tmp_path, [page, third], "pages.json")
    lines = "\n".join(json.dumps(v) for v in (page, third)) + "\n"
    as_lines = write_text(tmp_path, lines, "pages.jsonl")

    for path in (as_list, as_lines):
        companies = read_company_search(path, today=SEARCH_TODAY)["company"]
        assert list(companies["siren"]) == [SIREN_A, SIREN_B, SIREN_C]
        assert list(companies[ROW]) == [1, 2, 3]
        assert companies["name"].tolist()[1] == "BETA"


def test_import_company_search_lands_and_reimport_changes_nothing(store: LedgerStore) -> None:
    path = DATA / "company_search_response.json"

    report = import_company_search(store, path, today=SEARCH_TODAY)
    assert report.rows_added == {"company": 3, "financial_statement": 3}
    assert any("estimates" in note for note in report.notes)
    before = store.snapshot()
    again = import_company_search(store, path, today=SEARCH_TODAY)

    assert not again.changed
    for table, frame in store.snapshot().items():
        pd.testing.assert_frame_equal(frame, before[table])


def test_company_search_never_replaces_filed_accounts(store: LedgerStore, tmp_path: Path) -> None:
    import_inpi_accounts(store, write_json(tmp_path, [inpi_account()]), today=INPI_TODAY)
    result = search_result(finances={"2022": {"ca": 999, "resultat_net": 1}})

    report = import_company_search(
        store, write_json(tmp_path, {"results": [result]}, "s.json"), today=INPI_TODAY
    )

    stored = store.read("financial_statement")
    assert stored["source"].tolist() == ["inpi"]
    assert stored["revenue"].tolist() == [1000.0]
    assert any("already stored from filed accounts" in note for note in report.notes)


def test_company_search_estimated_publication_only_moves_earlier(
    store: LedgerStore, tmp_path: Path
) -> None:
    path = write_json(tmp_path, {"results": [search_result()]})  # fiscal year 2021
    import_company_search(store, path, today=date(2022, 3, 1))
    import_company_search(store, path, today=date(2023, 3, 1))

    stored = store.read("financial_statement")
    # Seen on 1 March 2022 means public by then, although the deadline is 31 July 2022.
    assert stored["publication_date"].tolist() == [pd.Timestamp("2022-03-01")]


# ---- company search: nasty input -------------------------------------------------------------


def test_truncated_json_names_line_and_column(tmp_path: Path, store: LedgerStore) -> None:
    text = json.dumps({"results": [search_result()]}, indent=2)
    path = write_text(tmp_path, text[: len(text) // 2])

    message = rejection(import_company_search, store, path, today=SEARCH_TODAY)

    assert re.search(r"is not valid JSON: .* at line \d+, column \d+", message)
    assert nothing_stored(store)


def test_json_lines_with_a_broken_line_names_that_line(tmp_path: Path) -> None:
    good = json.dumps(search_result())
    path = write_text(tmp_path, f"{good}\n{good}\n{{'siren': 1}}\n")

    message = rejection(read_company_search, path, today=SEARCH_TODAY)

    assert "line 3, column 2" in message


def test_document_followed_by_garbage_is_reported_as_such(tmp_path: Path) -> None:
    text = json.dumps({"results": [search_result()]}, indent=2) + "\n<html>oops</html>"
    message = rejection(read_company_search, write_text(tmp_path, text), today=SEARCH_TODAY)
    assert "Extra data" in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"  \n ", "is empty"),
        (b'{"results": [{"nom_complet": "caf\xe9"}]}', "is not UTF-8"),
        (b"[1, 2]", "row 1, field 'record': is not a JSON object (found int)"),
    ],
)
def test_unreadable_files_are_rejected(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    assert expected in rejection(read_company_search, path, today=SEARCH_TODAY)


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    message = rejection(read_company_search, tmp_path / "absent.json", today=SEARCH_TODAY)
    assert "does not exist" in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"siren": None}, "row 2, field 'siren': is missing or empty"),
        ({"nom_complet": None}, "row 2, field 'nom_complet': is missing"),
        (
            {"siren": BAD_LUHN},
            "row 2, field 'siren': is not a valid SIREN: 9 digits whose Luhn checksum",
        ),
        ({"siren": "83310592"}, "row 2, field 'siren': is not a valid SIREN"),
        (
            {"date_creation": "2099-01-01"},
            "row 2, field 'date_creation (creation_date)': is in the future",
        ),
        (
            {"date_creation": "02/11/2017"},
            "row 2, field 'date_creation': is not a date in the "
            "format YYYY-MM-DD (value '02/11/2017')",
        ),
        ({"date_creation": "2017-02-30"}, "row 2, field 'date_creation': is not a date"),
        # Far outside pandas' nanosecond range: reported by the schema, not an overflow.
        ({"date_creation": "0001-01-01"}, "row 2, field 'date_creation (creation_date)': is "),
        ({"etat_administratif": "X"}, "field 'etat_administratif': must be A (active) or C"),
        (
            {"activite_principale": "4120A"},
            "field 'activite_principale (naf_code)': must look like 46.69B",
        ),
        (
            {"finances": {"2021": {"ca": "12k", "resultat_net": 1}}},
            "row 2, field 'finances.2021.ca': is not a number (value '12k')",
        ),
        ({"finances": {"2021": {"ca": True}}}, "field 'finances.2021.ca': is not a number"),
        (
            {"finances": {"2030": {"ca": 1}}},
            "field 'finances.2030': is a fiscal year that has not ended by 2023-03-15",
        ),
        ({"finances": {"last": {"ca": 1}}}, "field 'finances': has a key that is not a year"),
        ({"finances": [1, 2]}, "field 'finances': is not an object keyed by year"),
        (
            {"complements": {"est_entrepreneur_individuel": "oui"}},
            "field 'complements.est_entrepreneur_individuel': is not true or false",
        ),
        ({"complements": "none"}, "field 'complements': is not a JSON object"),
        ({"nature_juridique": {"code": 5710}}, "field 'nature_juridique': is not text"),
    ],
)
def test_bad_company_search_records_are_rejected_naming_record_and_field(
    tmp_path: Path, store: LedgerStore, override: dict[str, object], expected: str
) -> None:
    records = [search_result(siren=SIREN_B), search_result(**override)]
    path = write_json(tmp_path, {"results": records})

    message = rejection(import_company_search, store, path, today=SEARCH_TODAY)

    assert str(path) in message
    assert expected in message
    assert nothing_stored(store)


def test_nan_in_json_is_not_a_number(tmp_path: Path) -> None:
    text = json.dumps({"results": [search_result()]}).replace("2500000", "NaN")
    message = rejection(read_company_search, write_text(tmp_path, text), today=SEARCH_TODAY)
    assert "field 'finances.2021.ca': is not a number (value 'NaN')" in message


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    records = [search_result(siren=None), search_result(date_creation="hier")]
    message = rejection(read_company_search, write_json(tmp_path, records), today=SEARCH_TODAY)
    assert "2 problem(s)" in message
    assert "row 1, field 'siren'" in message
    assert "row 2, field 'date_creation'" in message


# ---- INPI annual accounts ---------------------------------------------------------------------


def test_inpi_accounts_map_line_codes_computed_by_hand() -> None:
    frames = read_inpi_accounts(DATA / "inpi_accounts.json")
    statements = frames["financial_statement"]

    complete = by(statements, siren=SIREN_A)
    assert complete["fiscal_year_end"] == pd.Timestamp("2022-12-31")
    assert complete["publication_date"] == pd.Timestamp("2023-06-20")
    assert (complete["duration_months"], complete["confidential"]) == (12, False)
    assert complete["revenue"] == 5_000_000  # FL total column m3, not m1 (France only)
    assert complete["net_income"] == -120_000  # HN m1, negative
    assert complete["equity"] == 900_000  # DL
    assert complete["total_assets"] == 3_400_000  # EE
    assert complete["total_debt"] == 2_300_000  # EC
    assert complete["current_assets"] == 2_050_000  # CJ net (m3)
    assert complete["current_liabilities"] == 700_000 + 300_000 + 50_000 + 100_000  # DX..EA
    assert complete["cash"] == 350_000  # CF net
    assert complete["trade_receivables"] == 1_200_000  # BX net, not gross 1 250 000
    assert complete["trade_payables"] == 700_000  # DX

    simplified = by(statements, siren=SIREN_B)
    assert simplified["fiscal_year_end"] == pd.Timestamp("2022-06-30")
    assert simplified["revenue"] == 300_000 + 50_000 + 150_000  # 210 + 214 + 218
    assert simplified["net_income"] == 21_000  # 310
    assert simplified["equity"] == 120_000  # 142
    assert simplified["total_assets"] == 310_000  # 180
    assert simplified["total_debt"] == 190_000  # 176
    assert simplified["current_assets"] == 190_000  # 096 net
    assert simplified["current_liabilities"] == 70_000 + 40_000  # 166 + 172, not 169
    assert simplified["cash"] == 42_000  # 084
    assert simplified["trade_receivables"] == 80_000  # 068 net
    assert simplified["trade_payables"] == 70_000  # 166

    hidden = by(statements, siren=SIREN_C)
    assert hidden["confidential"]
    amounts = ["revenue", "net_income", "equity", "total_assets", "cash"]
    assert hidden[amounts].isna().all()

    assert len(statements) == 3  # the consolidated account is skipped
    assert set(statements["source"]) == {"inpi"}
    assert any("consolidated" in note for note in frames.notes)
    assert any("confidential" in note for note in frames.notes)


def test_inpi_turnover_without_total_column_adds_france_and_export(tmp_path: Path) -> None:
    lines = {"FL": {"m1": "000000000700", "m2": "000000000300"}}
    path = write_json(tmp_path, [inpi_account(bilanSaisi=liasses(lines))])
    assert read_inpi_accounts(path)["financial_statement"]["revenue"].tolist() == [1000.0]


def test_inpi_total_assets_falls_back_to_total_actif(tmp_path: Path) -> None:
    lines = {"CO": {"m1": "500", "m2": "120", "m3": "380"}, "68": {"m3": "1"}}
    path = write_json(tmp_path, [inpi_account(bilanSaisi=liasses(lines))])
    statement = read_inpi_accounts(path)["financial_statement"].iloc[0]
    assert statement["total_assets"] == 380.0
    assert pd.isna(statement["equity"])


def test_inpi_type_inferred_from_codes_and_duration_kept(tmp_path: Path) -> None:
    lines = {"210": {"m1": "100"}, "68": {"m3": "7"}}  # "68" is line 068
    account = inpi_account(typeBilan=None, bilanSaisi=liasses(lines, months="18"))
    statement = read_inpi_accounts(write_json(tmp_path, [account]))["financial_statement"]
    assert statement["revenue"].tolist() == [100.0]
    assert statement["trade_receivables"].tolist() == [7.0]
    assert statement["duration_months"].tolist() == [18]


@pytest.mark.parametrize(
    ("override", "confidential", "revenue"),
    [
        ({"confidentiality": "Confidentiel"}, True, None),
        ({"confidentiality": None, "confidentiel": True}, True, None),
        ({"confidentiality": None, "confidentiel": False}, False, 1000.0),
        ({"confidentiality": "Partiellement confidentiel"}, True, 1000.0),
        ({"bilanSaisi": liasses({})}, True, None),  # filed without any figure
    ],
)
def test_inpi_confidentiality(
    tmp_path: Path, override: dict[str, object], confidential: bool, revenue: float | None
) -> None:
    path = write_json(tmp_path, [inpi_account(**override)])
    statement = read_inpi_accounts(path)["financial_statement"].iloc[0]
    assert statement["confidential"] == confidential
    assert (pd.isna(statement["revenue"]) and revenue is None) or statement["revenue"] == revenue


def test_inpi_later_filing_replaces_earlier_one_for_the_same_year(tmp_path: Path) -> None:
    corrected = liasses({"FL": {"m3": "1200"}})
    accounts = [inpi_account(dateDepot="2023-09-01", bilanSaisi=corrected), inpi_account()]

    frames = read_inpi_accounts(write_json(tmp_path, accounts))

    statements = frames["financial_statement"]
    assert statements["revenue"].tolist() == [1200.0]
    assert statements[ROW].tolist() == [1]
    assert any("replaced by a later filing" in note for note in frames.notes)


def test_inpi_deleted_and_foreign_types_are_skipped_with_notes(tmp_path: Path) -> None:
    accounts = [
        inpi_account(deleted=True),
        inpi_account(typeBilan="B"),
        inpi_account(siren=SIREN_B),
    ]
    frames = read_inpi_accounts(write_json(tmp_path, accounts))
    assert frames["financial_statement"]["siren"].tolist() == [SIREN_B]
    assert any("deleted" in note for note in frames.notes)
    assert any("'B' (1)" in note for note in frames.notes)


def test_inpi_api_response_and_json_lines_of_arrays(tmp_path: Path) -> None:
    response = write_json(tmp_path, {"bilans": [], "bilansSaisis": [inpi_account()]}, "a.json")
    stock = "\n".join(json.dumps([inpi_account(siren=s)]) for s in (SIREN_A, SIREN_B))
    lines = write_text(tmp_path, stock, "stock.jsonl")
    assert read_inpi_accounts(response)["financial_statement"]["siren"].tolist() == [SIREN_A]
    statements = read_inpi_accounts(lines)["financial_statement"]
    assert statements["siren"].tolist() == [SIREN_A, SIREN_B]
    assert statements[ROW].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"bilanSaisi": liasses({"FL": {"m3": "12a"}})},
            "row 2, field 'liasse FL m3': is not a number (value '12a')",
        ),
        ({"bilanSaisi": liasses({"HN": {"m1": "1 000,50"}})}, "field 'liasse HN m1': is not a"),
        ({"dateDepot": None}, "row 2, field 'dateDepot': is missing or empty"),
        ({"dateCloture": "31/12/2022"}, "row 2, field 'dateCloture': is not a date"),
        (
            {"dateDepot": "2022-06-01"},
            "field 'dateDepot (publication_date)': is before fiscal_year_end",
        ),
        ({"dateDepot": "2024-03-01"}, "field 'dateDepot (publication_date)': is in the future"),
        ({"siren": BAD_LUHN}, "row 2, field 'siren': is not a valid SIREN"),
        ({"siren": "ABC"}, "row 2, field 'siren': is not a valid SIREN"),
        (
            {"bilanSaisi": liasses({"FL": {"m3": "1"}}, months="48")},
            "field 'dureeExercice (duration_months)': must be between 1 and 36",
        ),
        ({"bilanSaisi": liasses({}, months="douze")}, "field 'identite.dureeExercice': is not a"),
        ({"confidentiality": "Secret"}, "field 'confidentiality': must be Public, Confidentiel"),
        (
            {"bilanSaisi": {"bilan": {"detail": {"pages": "none"}}}},
            "field 'bilanSaisi.bilan.detail.pages': is not a list of pages",
        ),
        ({"bilanSaisi": {"bilan": "none"}}, "field 'bilanSaisi.bilan': is not a JSON object"),
        (
            {"bilanSaisi": {"bilan": {"detail": {"pages": [{"liasses": [{"m1": "1"}]}]}}}},
            "field 'liasses[].code': is missing",
        ),
    ],
)
def test_bad_inpi_accounts_are_rejected_naming_record_and_field(
    tmp_path: Path, store: LedgerStore, override: dict[str, object], expected: str
) -> None:
    path = write_json(tmp_path, [inpi_account(siren=SIREN_B), inpi_account(**override)])

    message = rejection(import_inpi_accounts, store, path, today=INPI_TODAY)

    assert expected in message
    assert nothing_stored(store)


def test_inpi_line_given_twice_with_other_figures_is_rejected(tmp_path: Path) -> None:
    pages = [{"liasses": [{"code": "FL", "m3": "1"}]}, {"liasses": [{"code": "FL", "m3": "2"}]}]
    account = inpi_account(bilanSaisi={"bilan": {"detail": {"pages": pages}}})
    message = rejection(read_inpi_accounts, write_json(tmp_path, [account]))
    assert "field 'liasse FL': appears twice with different figures" in message


def test_import_inpi_is_idempotent_and_a_correction_updates(
    store: LedgerStore, tmp_path: Path
) -> None:
    path = DATA / "inpi_accounts.json"
    assert import_inpi_accounts(store, path, today=INPI_TODAY).rows_added == {
        "financial_statement": 3
    }
    before = store.snapshot()
    assert not import_inpi_accounts(store, path, today=INPI_TODAY).changed
    for table, frame in store.snapshot().items():
        pd.testing.assert_frame_equal(frame, before[table])

    corrected = inpi_account(dateDepot="2023-09-01", bilanSaisi=liasses({"FL": {"m3": "7"}}))
    report = import_inpi_accounts(store, write_json(tmp_path, [corrected]), today=INPI_TODAY)

    assert report.rows_updated == {"financial_statement": 1}
    stored = by(store.read("financial_statement"), siren=SIREN_A)
    assert (stored["revenue"], stored["publication_date"]) == (7.0, pd.Timestamp("2023-09-01"))


# ---- BODACC notices ---------------------------------------------------------------------------


def test_bodacc_notices_become_legal_events() -> None:
    frames = read_bodacc_notices(DATA / "bodacc_notices.json")
    events = frames["legal_event"]

    assert events["event_id"].tolist() == [
        "A202300912345",
        "A202301512346",
        "A202302112233",
        "A202400100001",
    ]
    opening = by(events, event_id="A202300912345")
    assert (opening["siren"], opening["kind"]) == (SIREN_A, "redressement")
    assert opening["event_date"] == pd.Timestamp("2023-05-10")  # judgment, not publication
    assert opening["description"].startswith("Jugement d'ouverture d'une procédure de redress")
    plan = by(events, event_id="A202301512346")  # registre as a comma-separated string
    assert (plan["siren"], plan["kind"]) == (SIREN_A, "plan")
    liquidation = by(events, event_id="A202302112233")  # SIREN from listepersonnes
    assert (liquidation["siren"], liquidation["kind"]) == (SIREN_C, "liquidation")
    closure = by(events, event_id="A202400100001")  # jugement as an object, without date
    assert closure["kind"] == "cloture"
    assert closure["event_date"] == pd.Timestamp("2024-01-09")  # falls back to dateparution
    assert events[ROW].tolist() == [1, 2, 3, 7]
    assert set(events["source"]) == {"bodacc"}
    assert any("'vente' (1)" in note and "'modification' (1)" in note for note in frames.notes)
    assert any(
        "Jugement de report de la date de cessation des paiements" in note for note in frames.notes
    )


@pytest.mark.parametrize(
    ("nature", "kind"),
    [
        ("Jugement d'ouverture d'une procédure de sauvegarde", "sauvegarde"),
        ("Jugement d'ouverture d'une procédure de sauvegarde accélérée", "sauvegarde"),
        ("Jugement d'ouverture d'une procédure de redressement judiciaire", "redressement"),
        (
            "Jugement de conversion de la procédure de sauvegarde en redressement judiciaire",
            "redressement",
        ),
        ("Jugement d'ouverture de liquidation judiciaire", "liquidation"),
        ("Jugement d'ouverture de liquidation judiciaire simplifiée", "liquidation"),
        ("Jugement de conversion en liquidation judiciaire", "liquidation"),
        (
            "Jugement prononçant la résolution du plan de redressement et la liquidation "
            "judiciaire",
            "liquidation",
        ),
        (
            "Jugement de résolution du plan de sauvegarde et d'ouverture de redressement "
            "judiciaire",
            "redressement",
        ),
        ("Jugement arrêtant le plan de redressement", "plan"),
        ("Jugement arrêtant le plan de cession", "plan"),
        ("Jugement modifiant le plan de sauvegarde", "plan"),
        ("Jugement de clôture pour insuffisance d'actif", "cloture"),
        ("Jugement de clôture pour extinction du passif", "cloture"),
        (
            "Jugement prononçant la clôture de la procédure de liquidation judiciaire pour "
            "insuffisance d'actif",
            "cloture",
        ),
        ("JUGEMENT D’OUVERTURE DE LIQUIDATION JUDICIAIRE", "liquidation"),
        ("Jugement homologuant l'accord de conciliation", "conciliation"),
        ("Jugement de report de la date de cessation des paiements", None),
        ("Avis de dépôt de l'état des créances", None),
        (
            "Arrêt de la Cour d'appel infirmant le jugement d'ouverture de liquidation judiciaire",
            None,
        ),
        ("Jugement mettant fin à la procédure de redressement judiciaire", None),
        ("Jugement prononçant la résolution du plan de sauvegarde", None),
    ],
)
def test_judgment_natures_map_to_event_kinds(nature: str, kind: str | None) -> None:
    assert judgment_kind(nature) == kind


def test_bodacc_opendatasoft_v1_records_and_json_lines(tmp_path: Path) -> None:
    first, second = bodacc_notice(), bodacc_notice(id="A202300900001", registre="")
    second["listepersonnes"] = json.dumps(
        {"personne": {"numeroImmatriculation": {"numeroIdentification": SIREN_B}}}
    )
    v1 = {
        "nhits": 2,
        "records": [
            {"datasetid": "annonces-commerciales", "recordid": "9f1", "fields": notice}
            for notice in (first, second)
        ],
    }
    paths = [
        write_json(tmp_path, v1, "v1.json"),
        write_text(tmp_path, f"{json.dumps(first)}\n\n{json.dumps(second)}\n", "n.jsonl"),
        write_json(tmp_path, [first, second], "list.json"),
    ]
    for path in paths:
        events = read_bodacc_notices(path)["legal_event"]
        assert events["siren"].tolist() == [SIREN_A, SIREN_B]
        assert events[ROW].tolist() == [1, 2]


def test_bodacc_skips_cancellations_and_notices_without_siren(tmp_path: Path) -> None:
    notices = [
        bodacc_notice(typeavis="annulation"),
        bodacc_notice(id="X1", registre=None),
        bodacc_notice(id="X2", jugement=None),
    ]
    frames = read_bodacc_notices(write_json(tmp_path, notices))
    assert frames["legal_event"].empty
    assert any("cancelling an earlier notice" in note for note in frames.notes)
    assert any("without a SIREN" in note for note in frames.notes)
    assert any("without a judgment" in note for note in frames.notes)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"jugement": '{"nature": "Jugement d\'ouverture'},
            "row 2, field 'jugement': is not valid JSON",
        ),
        ({"jugement": "[1]"}, "row 2, field 'jugement': is not a JSON object"),
        ({"id": None}, "row 2, field 'id': is missing or empty"),
        ({"familleavis": None}, "row 2, field 'familleavis': is missing"),
        ({"dateparution": "12/05/2023"}, "row 2, field 'dateparution': is not a date"),
        ({"registre": [BAD_LUHN]}, "row 2, field 'registre (siren)': is not a valid SIREN"),
        ({"registre": "RCS PARIS"}, "row 2, field 'registre (siren)': is not a valid SIREN"),
        (
            {
                "jugement": json.dumps(
                    {
                        "nature": "Jugement d'ouverture de liquidation judiciaire",
                        "date": "2025-01-10",
                    }
                )
            },
            "row 2, field 'jugement.date (event_date)': is in the future",
        ),
        (
            {
                "jugement": json.dumps(
                    {
                        "nature": "Jugement d'ouverture de liquidation judiciaire",
                        "date": "10 janvier 2023",
                    }
                )
            },
            "row 2, field 'jugement.date': is not a date in the format YYYY-MM-DD",
        ),
        (
            {"listepersonnes": "{oops", "registre": None},
            "row 2, field 'listepersonnes': is not valid JSON",
        ),
    ],
)
def test_bad_bodacc_notices_are_rejected_naming_record_and_field(
    tmp_path: Path, store: LedgerStore, override: dict[str, object], expected: str
) -> None:
    notices = [bodacc_notice(id="A1"), bodacc_notice(**override)]
    path = write_json(tmp_path, notices)

    message = rejection(import_bodacc_notices, store, path, today=BODACC_TODAY)

    assert expected in message
    assert nothing_stored(store)


def test_import_bodacc_is_idempotent_and_refuses_a_conflicting_notice(
    store: LedgerStore, tmp_path: Path
) -> None:
    path = DATA / "bodacc_notices.json"
    assert import_bodacc_notices(store, path, today=BODACC_TODAY).rows_added == {"legal_event": 4}
    before = store.snapshot()
    assert not import_bodacc_notices(store, path, today=BODACC_TODAY).changed

    changed = bodacc_notice(
        jugement=json.dumps(
            {"nature": "Jugement d'ouverture de liquidation judiciaire", "date": "2023-05-10"}
        )
    )
    with pytest.raises(ConflictingRecord, match="differs in: kind"):
        import_bodacc_notices(store, write_json(tmp_path, [changed]), today=BODACC_TODAY)

    for table, frame in store.snapshot().items():
        pd.testing.assert_frame_equal(frame, before[table])


def test_duplicate_notice_in_one_file_is_kept_once_or_refused(
    store: LedgerStore, tmp_path: Path
) -> None:
    # Overlapping exports repeat notices: identical copies are harmless, different ones are not.
    same = write_json(tmp_path, [bodacc_notice(), bodacc_notice()], "same.json")
    assert import_bodacc_notices(store, same, today=BODACC_TODAY).rows_added == {"legal_event": 1}
    other = bodacc_notice(
        dateparution="2023-05-13",
        jugement=json.dumps({"nature": "Jugement d'ouverture de liquidation judiciaire"}),
    )
    path = write_json(tmp_path, [bodacc_notice(), other], "other.json")
    with pytest.raises(ConflictingRecord, match="differs in: event_date, kind"):
        import_bodacc_notices(store, path, today=BODACC_TODAY)


def test_a_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"results": [search_result()]}).encode())
    assert read_company_search(path, today=SEARCH_TODAY)["company"]["siren"].tolist() == [SIREN_A]


def test_same_company_twice_with_other_contents_is_refused(
    tmp_path: Path, store: LedgerStore
) -> None:
    pages = [page_of(search_result()), page_of(search_result(nom_complet="ALPHA BTP"))]
    path = write_json(tmp_path, pages)

    with pytest.raises(ConflictingRecord, match=r"row 2.*other contents than row 1.*name"):
        import_company_search(store, path, today=SEARCH_TODAY)
    assert nothing_stored(store)


def page_of(*results: dict[str, object]) -> dict[str, object]:
    return {"results": list(results), "total_results": len(results), "page": 1, "per_page": 10}
