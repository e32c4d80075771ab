"""One accessor of a lot's contract terms: the contract file's extra keys, validated,
stored, read back with today's values as defaults."""
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.contract_file import ContractFileError, load_file
from fc_market.market.models import Lot, LotContract
from fc_market.market.terms import (DEFAULT_NONCONFORMITY_REASONS, EXTRA_KEYS, NoContract,
                                    ROUNDING_LABELS, lot_terms)
from tests.conftest import DEMO_CONTRACT, lot

TEXT = DEMO_CONTRACT.read_text(encoding="utf-8")


def write(tmp_path, text):
    path = tmp_path / "market.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_terms_are_todays_values(market):
    t = lot_terms(lot("IDF"), date(2025, 3, 1))
    assert t.day == date(2025, 3, 1) and t.lot_code == "IDF"
    assert t.coverage.radius_km == Decimal("30") and t.coverage.radius == 30.0
    assert t.coverage.radius_label == "30 km"
    assert t.coverage.site_kinds == ("permanent",)
    assert t.coverage.kinds_label == "sites permanents"
    assert t.rounding.mode == "half_up"
    assert t.rounding.label.startswith("au centime le plus proche, un demi-centime exact étant "
                                       "arrondi au centime supérieur en valeur absolue")
    assert t.revision.coefficient_decimals == 4 and t.revision.coefficient_rounding == "half_up"
    assert t.revision.fixed_part == Decimal("0.15")
    assert t.penalties.vat_treatment == "outside_vat_scope"
    assert t.penalties.late_reporting_per_day == Decimal("100.00")
    assert t.uo_order == ("UO0", "UO1", "UO2.1", "UO2.2", "UO4")
    assert sorted(["UO4", "ZZ", "UO1", "UO0"], key=t.uo_sort_key) == ["UO0", "UO1", "UO4", "ZZ"]
    assert t.controls.reasons == DEFAULT_NONCONFORMITY_REASONS
    assert t.controls.expected_rate == Decimal("0.5") and t.controls.use_previous_rate is False
    assert (t.steering.indicator_window_months, t.steering.information_only_days,
            t.steering.level2_days, t.steering.implementation_days,
            t.steering.short_pathway_days, t.steering.pathway_gap_days) == (3, 90, 120, 183, 14, 365)
    assert t.reporting.volume_change_threshold == Decimal("0.5")
    assert (t.reporting.volume_min_mean, t.reporting.volume_history_months) == (20, 6)
    assert t.reporting.deadline_day == 10 and t.reporting.late_acts_grace_days == 15


def test_a_contract_without_stored_extra_keys_reads_the_defaults(market):
    idf = lot("IDF")
    idf.contract.extra_terms = None
    db.session.flush()
    t = lot_terms(idf)
    assert t.coverage.radius_km == Decimal(EXTRA_KEYS["coverage.radius_km"].default)
    assert t.steering.level2_days == 120
    assert t.uo_order == ("UO0", "UO1", "UO2.1", "UO2.2", "UO4")  # the catalogue's order


def test_a_lot_overrides_the_defaults_and_the_values_are_stored(tmp_path):
    text = TEXT.replace('[lots.contract]\nreference = "AC-CEP-2024-02"',
                        '[lots.contract]\nreference = "AC-CEP-2024-02"\n'
                        '[lots.contract.coverage]\nradius_km = "22.5"\n'
                        'site_kinds = ["permanent", "permanence"]\n'
                        '[lots.contract.steering]\nlevel2_days = 90\n'
                        '[lots.contract.penalties]\nvat_treatment = "reduces_vat_base"\n', 1)
    load_file(write(tmp_path, text))
    cvl, idf = lot_terms(lot("CVL")), lot_terms(lot("IDF"))
    assert cvl.coverage.radius_km == Decimal("22.5") and cvl.coverage.radius_label == "22,5 km"
    assert cvl.coverage.kinds_label == "sites permanents ou permanences"
    assert cvl.steering.level2_days == 90 and cvl.steering.information_only_days == 90
    assert cvl.penalties.vat_treatment == "reduces_vat_base"
    assert cvl.penalties.late_reporting_per_day == Decimal("100.00")  # default kept
    assert idf.coverage.radius_km == Decimal("30") and idf.steering.level2_days == 120
    stored = db.session.scalar(sa.select(LotContract.extra_terms).join(Lot).where(Lot.code == "CVL"))
    assert stored["coverage.radius_km"] == "22.5"


@pytest.mark.parametrize("old, new, key, words", [
    ('radius_km = "30"', 'radius_km = 30.0', "lots.IDF.contract.coverage.radius_km", "guillemets"),
    ('radius_km = "30"', 'radius_km = "500"', "lots.IDF.contract.coverage.radius_km",
     "supérieure au maximum"),
    ('site_kinds = ["permanent"]', 'site_kinds = ["boutique"]',
     "lots.IDF.contract.coverage.site_kinds", "boutique"),
    ('site_kinds = ["permanent"]', 'site_kinds = []', "lots.IDF.contract.coverage.site_kinds",
     "liste"),
    ('coefficient_decimals = 4', 'coefficient_decimals = 12',
     "lots.IDF.contract.revision.coefficient_decimals", "supérieure au maximum"),
    ('vat_treatment = "outside_vat_scope"', 'vat_treatment = "ttc"',
     "lots.IDF.contract.penalties.vat_treatment", "non permise"),
    ('uo_order = ["UO0", "UO1", "UO2.1", "UO2.2", "UO4"]', 'uo_order = ["UO0", "UO3"]',
     "lots.IDF.contract.display.uo_order", "UO3"),
    ('autre = "Autre motif (préciser)"\n', '', "lots.IDF.contract.controls.nonconformity_reasons",
     "autre"),
    ('level2_days = 120', 'level2_days = 0', "lots.IDF.contract.steering.level2_days",
     "inférieure au minimum"),
    ('volume_change_threshold = "0.5"', 'volume_change_threshold = "beaucoup"',
     "lots.IDF.contract.reporting.volume_change_threshold", "invalide"),
    ('use_previous_rate = false', 'use_previous_rate = "non"',
     "lots.IDF.contract.controls.use_previous_rate", "true ou false"),
])
def test_a_bad_extra_key_is_refused_with_its_name(tmp_path, old, new, key, words):
    assert old in TEXT, old
    with pytest.raises(ContractFileError) as exc:
        load_file(write(tmp_path, TEXT.replace(old, new, 1)))
    db.session.rollback()
    assert any(k.startswith(key) and words in m for k, m in exc.value.errors), exc.value.errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lot)) == 0


def test_every_rounding_mode_has_a_french_label():
    from fc_market.money import CONTRACT_ROUNDING_NAMES
    assert set(ROUNDING_LABELS) == set(CONTRACT_ROUNDING_NAMES)


def test_a_lot_without_contract_says_so(market):
    idf = lot("IDF")
    db.session.delete(idf.contract)
    db.session.flush()
    db.session.expire(idf)
    with pytest.raises(NoContract):
        lot_terms(idf)


def test_the_lot_page_prints_the_contract_terms(login):
    idf = lot("IDF")
    idf.contract.extra_terms = {**idf.contract.extra_terms, "coverage.radius_km": "22.5",
                                "penalties.vat_treatment": "reduces_vat_base",
                                "revision.coefficient_decimals": 3}
    db.session.commit()
    page = login("manager").get("/lots/IDF").get_data(as_text=True)
    assert "moins de 22,5 km d'un des sites permanents ouverts" in page
    assert "au centime le plus proche, un demi-centime exact étant arrondi au centime supérieur" in page
    assert "déduites avant TVA" in page
    assert "C arrondi à 3 décimales" in page
    assert "30 km" not in page


def test_the_statement_follows_the_contract_order_and_vat_treatment():
    from fc_market.billing import calc
    inp = dict(act_groups=[calc.ActGroup("UO1", Decimal("150.00"), 2),
                           calc.ActGroup("UO0", Decimal("30.00"), 10)],
               penalty=calc.LatePenalty(2, Decimal("100.00")), vat_rate=Decimal("0.20"))
    default = calc.compute_statement(calc.StatementInput(**inp))
    assert [l.uo_code for l in default.lines] == ["UO0", "UO1"]
    # 300 + 300 = 600 HT; VAT 120; penalty 200 outside the VAT scope: 720 − 200 = 520
    assert (default.total_excl_tax, default.vat, default.amount_payable) == (
        Decimal("600.00"), Decimal("120.00"), Decimal("520.00"))
    other = calc.compute_statement(calc.StatementInput(
        **inp, uo_order=("UO1", "UO0"), penalty_vat_treatment="reduces_vat_base"))
    assert [l.uo_code for l in other.lines] == ["UO1", "UO0"]
    # penalty before VAT: 600 − 200 = 400 HT, VAT 80, 480 payable
    assert (other.total_excl_tax, other.vat, other.amount_payable) == (
        Decimal("400.00"), Decimal("80.00"), Decimal("480.00"))


def test_dated_changes_apply_from_their_date(tmp_path):
    text = TEXT.replace('reference = "AC-CEP-2024-02"\nmax_amount = "13460000.00"\n',
                        'reference = "AC-CEP-2024-02"\nmax_amount = "13460000.00"\n'
                        '[[lots.contract.changes]]\nvalid_from = 2026-01-01\namendment = 3\n'
                        'steering.level2_days = 90\ncoverage.radius_km = "25"\n'
                        '[[lots.contract.changes]]\nvalid_from = 2026-07-01\n'
                        'steering.level2_days = 100\n', 1)
    load_file(write(tmp_path, text))
    cvl = lot("CVL")
    before, after, later = (lot_terms(cvl, date(2025, 12, 31)), lot_terms(cvl, date(2026, 1, 1)),
                            lot_terms(cvl, date(2026, 9, 1)))
    assert (before.steering.level2_days, before.coverage.radius_km) == (120, Decimal("30"))
    assert (after.steering.level2_days, after.coverage.radius_km) == (90, Decimal("25"))
    assert (later.steering.level2_days, later.coverage.radius_km) == (100, Decimal("25"))
    assert lot_terms(lot("IDF"), date(2026, 9, 1)).steering.level2_days == 120


@pytest.mark.parametrize("change, key, words", [
    ('valid_from = 2026-01-01\nsteering.level2_days = 0\n',
     "lots.CVL.contract.changes[1].steering.level2_days", "minimum"),
    ('valid_from = 2026-01-01\nsteering.horizon = 3\n',
     "lots.CVL.contract.changes[1].steering.horizon", "clé inconnue"),
    ('valid_from = 2026-01-01\nvat_rate = "0.1"\n', "lots.CVL.contract.changes[1].vat_rate",
     "seules les clés datables"),
    ('valid_from = 2023-06-01\nsteering.level2_days = 90\n',
     "lots.CVL.contract.changes[1].valid_from", "suit le début du contrat"),
    ('steering.level2_days = 90\n', "lots.CVL.contract.changes[1].valid_from", "obligatoire"),
])
def test_a_bad_dated_change_is_refused_with_its_key(tmp_path, change, key, words):
    text = TEXT.replace('reference = "AC-CEP-2024-02"\nmax_amount = "13460000.00"\n',
                        'reference = "AC-CEP-2024-02"\nmax_amount = "13460000.00"\n'
                        '[[lots.contract.changes]]\n' + change, 1)
    with pytest.raises(ContractFileError) as exc:
        load_file(write(tmp_path, text))
    db.session.rollback()
    assert any(k.startswith(key) and words in m for k, m in exc.value.errors), exc.value.errors


def test_the_terms_are_built_once_per_span_and_follow_every_change(tmp_path, monkeypatch):
    """lot_terms keeps the terms of each span between two dated changes on the contract row
    (issue 16: thousands of invoices read their payment term); the memo is dropped when the
    row changes, when it expires (a commit), and when the contract file is loaded again."""
    from fc_market.market import terms as terms_module

    text = TEXT.replace('reference = "AC-CEP-2024-02"\nmax_amount = "13460000.00"\n',
                        'reference = "AC-CEP-2024-02"\nmax_amount = "13460000.00"\n'
                        '[[lots.contract.changes]]\nvalid_from = 2026-01-01\namendment = 3\n'
                        'steering.level2_days = 90\n', 1)
    load_file(write(tmp_path, text))
    db.session.commit()
    built = []
    original = terms_module.terms_of_contract
    monkeypatch.setattr(terms_module, "terms_of_contract",
                        lambda *a, **k: built.append(a[1]) or original(*a, **k))
    cvl = lot("CVL")
    days = [date(2025, 6, 1), date(2025, 12, 31), date(2026, 1, 1), date(2026, 3, 5)]
    read = [lot_terms(cvl, d) for d in days]
    assert [t.day for t in read] == days  # each read carries its own day
    assert [t.steering.level2_days for t in read] == [120, 120, 90, 90]
    assert len(built) == 2  # one build per span: before and from the change
    # a column changed in the session: read again at once
    cvl.contract.payment_term_days = 20
    assert lot_terms(cvl, days[0]).payment_term_days == 20
    assert lot_terms(cvl, days[3]).payment_term_days == 20
    # expired (a commit, here rolled back): read again from the row
    db.session.rollback()
    assert lot_terms(cvl, days[0]).payment_term_days == 30
    # the contract file loaded again without the change: one span again, the old one gone
    load_file(write(tmp_path, TEXT))
    assert lot_terms(cvl, days[3]).steering.level2_days == 120
