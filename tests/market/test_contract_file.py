from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db
from fc_market.market.contract_file import ContractFileError, load_file, parse_file
from fc_market.market.models import (Amendment, FlagRule, Lot, LotContract, LotTarget, Market,
                                     Price, UnitOfWork)
from tests.conftest import DEMO_CONTRACT

TEXT = DEMO_CONTRACT.read_text(encoding="utf-8")


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def write(tmp_path, text, name="market.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_file_loads_the_whole_market(market):
    assert market.reference == "FC-CEP-AO-DEMO-2024"
    assert market.illustrative and "illustratives" in market.notice
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    assert len(lots) == 18
    assert {lot.region_code for lot in lots} == {
        "11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94",
        "01", "02", "03", "04", "06"}
    assert sum(1 for lot in lots if lot.overseas) == 5
    assert [u.code for u in market.units] == ["UO0", "UO1", "UO2.1", "UO2.2", "UO4"]
    assert db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.code == "UO4")).kind == "lump_sum"
    assert count(LotContract) == 18
    # 5 initial prices per lot + ARA and GUY amendments
    assert count(Price) == 18 * 5 + 2
    assert count(LotTarget) == 18 * 4
    assert count(FlagRule) >= 10
    # targets are about 155,000 entries a year nationally
    total_2024 = db.session.scalar(sa.select(sa.func.sum(LotTarget.entries)).where(LotTarget.year == 2024))
    assert 150_000 <= total_2024 <= 160_000


def test_contract_terms_merge_defaults_and_lot_overrides(market):
    guy = db.session.scalar(sa.select(Lot).where(Lot.code == "GUY")).contract
    idf = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF")).contract
    assert idf.late_reporting_penalty_per_day == Decimal("100.00")
    assert guy.late_reporting_penalty_per_day == Decimal("80.00")  # overseas override
    assert guy.late_reporting_penalty_cap == Decimal("3000.00")   # default kept
    assert idf.vat_rate == Decimal("0.2000") and idf.payment_term_days == 30
    assert idf.revision_fixed_part + idf.revision_variable_part == 1
    assert idf.end_date == date(2027, 12, 31)
    assert idf.reference == "AC-CEP-2024-01"


def test_loading_twice_changes_nothing(market):
    before = {m: count(m) for m in (Market, Lot, Price, AuditEntry, LotTarget, Amendment)}
    report = load_file(DEMO_CONTRACT)
    db.session.commit()
    assert not report.changed
    assert "Aucun changement" in report.summary_fr()
    assert {m: count(m) for m in before} == before


def test_a_later_price_becomes_a_new_line_and_never_rewrites_the_past(market, tmp_path):
    text = TEXT.replace('[[lots.prices]]\nvalid_from = 2025-04-15\namendment = 1\n"UO2.1" = "620.00"\n',
                        '[[lots.prices]]\nvalid_from = 2025-04-15\namendment = 1\n"UO2.1" = "620.00"\n\n'
                        '[[lots.prices]]\nvalid_from = 2026-01-01\norigin = "revision"\n"UO2.1" = "641.70"\n')
    assert text != TEXT
    report = load_file(write(tmp_path, text))
    db.session.commit()
    assert report.created == {"ligne de prix": 1}
    ara = db.session.scalar(sa.select(Lot).where(Lot.code == "ARA"))
    lines = [(p.valid_from, p.unit_price, p.origin) for p in ara.prices if p.uo.code == "UO2.1"]
    assert lines == [(date(2024, 1, 1), Decimal("600.0000"), "initial"),
                     (date(2025, 4, 15), Decimal("620.0000"), "amendment"),
                     (date(2026, 1, 1), Decimal("641.7000"), "revision")]
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "price.create")
                               .order_by(AuditEntry.id.desc())).first()
    assert entry.changes["unit_price"] == "641.70" and entry.lot_id == ara.id


def test_changing_a_price_in_force_is_refused_and_loads_nothing(market, tmp_path):
    audit_before = count(AuditEntry)
    text = TEXT.replace('"UO2.1" = "620.00"', '"UO2.1" = "625.00"').replace(
        'title = "Conseil', 'title = "CHANGED Conseil')
    with pytest.raises(ContractFileError) as exc:
        load_file(write(tmp_path, text))
    db.session.rollback()
    key, message = exc.value.errors[0]
    assert key == "lots.ARA.prices.UO2.1@2025-04-15"
    assert "ne se modifie jamais" in message
    assert count(AuditEntry) == audit_before
    assert not db.session.scalar(sa.select(Market.title).where(Market.title.like("CHANGED%")))


def test_a_line_dated_before_the_price_in_force_is_refused(market, tmp_path):
    text = TEXT.replace('[[lots.prices]]\nvalid_from = 2025-04-15\namendment = 1\n"UO2.1" = "620.00"\n',
                        '[[lots.prices]]\nvalid_from = 2025-04-15\namendment = 1\n"UO2.1" = "620.00"\n\n'
                        '[[lots.prices]]\nvalid_from = 2025-02-01\n"UO2.1" = "610.00"\n')
    with pytest.raises(ContractFileError) as exc:
        load_file(write(tmp_path, text))
    assert "changerait ce qui a déjà été tarifé" in exc.value.errors[0][1]


@pytest.mark.parametrize("old, new, key, words", [
    ('UO0 = "30.00"', 'UO0 = 30.5', "lots.IDF.prices[1].UO0", "entre guillemets"),
    ('UO0 = "30.00"', 'UO0 = "trente"', "lots.IDF.prices[1].UO0", "montant invalide"),
    ('UO0 = "30.00"', 'UO9 = "30.00"', "lots.IDF.prices[1].UO9", "inconnue du catalogue"),
    ('UO0 = "30.00"', 'UO0 = "-1"', "lots.IDF.prices[1].UO0", "négatif"),
    ('region = "11"', 'region = "99"', "lots.IDF.region", "non permise"),
    ('code = "BRE"', 'code = "IDF"', "lots.IDF.code", "deux fois"),
    ('vat_rate = "0.20"', 'vat_rate = "1.5"', "lots.IDF.contract.vat_rate", "supérieure au maximum"),
    ('reporting_deadline_day = 10', 'reporting_deadline_day = 31',
     "lots.IDF.contract.reporting_deadline_day", "supérieure au maximum"),
    ('fixed_part = "0.15"', 'fixed_part = "0.25"', "lots.IDF.contract.revision", "doit valoir 1"),
    ('start_date = 2024-01-01\nend_date = 2027-12-31', 'start_date = 2024-01-01\nend_date = 2023-12-31',
     "market.end_date", "suivre"),
    ('expects_prior = "UO2.1"', 'expects_prior = "UO3"', "uo.UO2.2.expects_prior", "absente"),
    ('comparison = "below"', 'comparison = "under"', "flags.satisfaction_l1_floor.comparison",
     "non permise"),
    ('2024 = 28180', '2024 = "beaucoup"', "lots.IDF.targets", "entier"),
])
def test_invalid_files_name_the_key_and_load_nothing(tmp_path, old, new, key, words):
    assert old in TEXT, old
    with pytest.raises(ContractFileError) as exc:
        load_file(write(tmp_path, TEXT.replace(old, new, 1)))
    db.session.rollback()
    messages = dict(exc.value.errors)
    assert any(k.startswith(key) and words in m for k, m in messages.items()), exc.value.errors
    assert count(Market) == 0 and count(Lot) == 0 and count(AuditEntry) == 0


def test_syntax_errors_and_missing_tables(tmp_path):
    with pytest.raises(ContractFileError) as exc:
        parse_file(write(tmp_path, "[market\nreference = 1"))
    assert "syntaxe TOML invalide" in exc.value.errors[0][1]
    with pytest.raises(ContractFileError) as exc:
        parse_file(write(tmp_path, "[other]\nx = 1"))
    assert exc.value.errors == [("market", "table [market] obligatoire absente")]
    with pytest.raises(ContractFileError) as exc:
        parse_file(tmp_path / "absent.toml")
    assert "illisible" in exc.value.errors[0][1]


def test_an_illustrative_market_must_say_so(tmp_path):
    text = TEXT.replace('notice = "Données illustratives', 'notes = "Données illustratives')
    with pytest.raises(ContractFileError) as exc:
        parse_file(write(tmp_path, text))
    assert ("market.notice", "un fichier illustratif doit le dire dans « notice »") in exc.value.errors


def test_every_problem_is_reported_at_once(tmp_path):
    text = TEXT.replace('UO0 = "30.00"', 'UO0 = 30.5', 1).replace('region = "53"', 'region = "5"')
    with pytest.raises(ContractFileError) as exc:
        parse_file(write(tmp_path, text))
    keys = [k for k, _ in exc.value.errors]
    assert "lots.IDF.prices[1].UO0" in keys and "lots.BRE.region" in keys


OPERATOR = '''
[lots.operator]
name = "Groupement Exemple"
kind = "groupement"

[[lots.operator.members]]
legal_name = "Association Alpha"
siret = "{alpha}"
role = "{alpha_role}"

[[lots.operator.members]]
legal_name = "SCOP Beta"
siret = "{beta}"
role = "{beta_role}"
'''


def _with_operator(alpha="73282932000074", beta="52601815590833", alpha_role="mandataire",
                   beta_role="cotraitant"):
    block = OPERATOR.format(alpha=alpha, beta=beta, alpha_role=alpha_role, beta_role=beta_role)
    return TEXT.replace('population = 2587031\n', 'population = 2587031\n' + block, 1)


def test_the_titulaire_can_be_described_in_the_contract_file(tmp_path):
    load_file(write(tmp_path, _with_operator()))
    db.session.commit()
    lot = db.session.scalar(sa.select(Lot).where(Lot.code == "CVL"))
    assert lot.operator.name == "Groupement Exemple"
    assert lot.operator.mandataire.legal_name == "Association Alpha"
    # the mandataire changes: one load, still exactly one mandataire, audited
    report = load_file(write(tmp_path, _with_operator(alpha_role="cotraitant", beta_role="mandataire"),
                             "v2.toml"))
    db.session.commit()
    db.session.refresh(lot.operator)
    assert lot.operator.mandataire.legal_name == "SCOP Beta"
    assert report.updated == {"membre": 2}
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "member.update")) is not None


@pytest.mark.parametrize("kwargs, words", [
    ({"alpha": "73282932000075"}, "SIRET « 73282932000075 » invalide"),
    ({"beta_role": "mandataire"}, "un et un seul mandataire attendu (2 trouvé(s))"),
    ({"beta": "73282932000074"}, "SIRET en double"),
])
def test_bad_titulaire_is_refused(tmp_path, kwargs, words):
    with pytest.raises(ContractFileError) as exc:
        load_file(write(tmp_path, _with_operator(**kwargs)))
    assert any(words in m for _, m in exc.value.errors), exc.value.errors
    assert all(k.startswith("lots.CVL.operator") for k, _ in exc.value.errors)


def test_the_demo_populations_are_the_sums_of_the_communes():
    assert load_file(DEMO_CONTRACT).warnings == []


def test_a_lot_population_off_the_communes_is_reported_at_load(tmp_path, app):
    # Corse: 355 486 inhabitants in its 360 communes; 0.5 % is 1 777.43
    text = TEXT.replace("population = 355486", "population = 347597")  # INSEE 2021 figure
    text = text.replace("population = 256518", "population = 257800")  # +0.4998 %: tolerated
    report = load_file(write(tmp_path, text))
    db.session.commit()
    assert report.warnings == [
        "lot COR (Corse) : le fichier de marché indique 347\u202f597 habitants, la somme des "
        "populations légales de ses communes est de 355\u202f486 habitants (écart "
        "−2,22\u00a0%) ; fc_market affiche et calcule avec 355\u202f486 habitants."]
    cor = db.session.scalar(sa.select(Lot).where(Lot.code == "COR"))
    assert cor.population == 347597  # the file's figure is kept as stated, never shown


def test_market_load_prints_the_population_warning(tmp_path, app):
    path = write(tmp_path, TEXT.replace("population = 12463067", "population = 12317279"))
    result = app.test_cli_runner().invoke(args=["market", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert ("Attention : lot IDF (Île-de-France) : le fichier de marché indique 12\u202f317\u202f279 "
            "habitants, la somme des populations légales de ses communes est de "
            "12\u202f463\u202f067 habitants") in result.output
    assert result.output.count("Attention") == 1
