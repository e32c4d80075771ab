"""Service-fait control campaigns: reproducible sample sized by the rule, answers with proofs,
verdicts, deadline job, withholding on items and by extrapolation applied to statements."""
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.billing import service as billing
from fc_market.controls import sampling, service
from fc_market.controls.models import ControlProof, Verdict
from fc_market.extensions import db
from tests.billing.helpers import PDF, PNG, make_validated


@pytest.fixture
def month(idf):
    # 60 UO1 acts (150,00) and 40 UO2.1 acts (600,00): N = 100, billed value 9 000 + 24 000
    return make_validated(idf, "2024-05", [("UO1", 3, 60), ("UO2.1", 9, 40)], emit=True)


def _judge_all(campaign, bad):
    """bad: {item index in campaign.items: (verdict, reason)}; everything else conforming."""
    for i, item in enumerate(campaign.items):
        verdict, reason = bad.get(i, (Verdict.CONFORMING, None))
        service.judge_item(item, None, verdict, reason_code=reason)


def test_sample_size_and_allocation_follow_the_rule(idf, month, users):
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="abc123")
    # n0 = 1,959964² × 0,5 × 0,5 / 0,1² = 96,0365 ; n = 96,0365 / (1 + 95,0365 / 100) = 49,24 → 50
    assert campaign.population == 100 and campaign.target_size == 50
    assert "96,0365" in campaign.size_explanation and "n = 50" in campaign.size_explanation
    # by billed value: UO1 50 × 9 000 / 33 000 = 13,64 ; UO2.1 36,36 → 13 + 36, the last seat
    # to the largest remainder (UO1, 0,64) → 14 and 36
    assert {k: v["size"] for k, v in campaign.strata.items()} == {"UO1": 14, "UO2.1": 36}
    assert campaign.sample_size == 50 == len(campaign.items)
    assert campaign.population_value == Decimal("33000.00")
    # reproducible: the same seed and acts give the same items, whoever draws
    act_ids = {"UO1": [], "UO2.1": []}
    for act in month_acts(month):
        act_ids[act[1]].append(act[0])
    draw = sampling.draw_sample(act_ids, {"UO1": 14, "UO2.1": 36}, "abc123")
    assert sorted(i for ids in draw.selected.values() for i in ids) == sorted(i.act_id for i in campaign.items)
    assert service.redraw(campaign) is True


def month_acts(version):
    from fc_market.market.models import UnitOfWork
    from fc_market.reporting.models import Act
    return db.session.execute(sa.select(Act.id, UnitOfWork.code).join(UnitOfWork, Act.uo_id == UnitOfWork.id)
                              .where(Act.version_id == version.id)).all()


def test_minimum_per_stratum_raises_small_strata(idf, users):
    make_validated(idf, "2024-06", [("UO1", 3, 200), ("UO0", 4, 10)])
    campaign = service.open_campaign(idf, ["2024-06"], users["manager"], seed="s")
    # UO0's value share (300 / 30 300) gives it 0 or 1 item; the contract minimum is 5
    assert campaign.strata["UO0"]["size"] == 5
    assert campaign.sample_size > campaign.target_size


def test_a_month_is_controlled_once_and_must_be_validated(idf, month, users):
    service.open_campaign(idf, ["2024-05"], users["manager"], seed="x")
    with pytest.raises(service.ControlError, match="déjà contrôlé"):
        service.open_campaign(idf, ["2024-05"], users["manager"])
    with pytest.raises(service.ControlError, match="pas validé"):
        service.open_campaign(idf, ["2024-07"], users["manager"])


def test_withholding_on_items_applies_to_the_statement(idf, month, users):
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="abc123")
    uo1 = [i for i, it in enumerate(campaign.items) if it.uo_code == "UO1"]
    uo21 = [i for i, it in enumerate(campaign.items) if it.uo_code == "UO2.1"]
    _judge_all(campaign, {uo1[0]: (Verdict.NONCONFORMING, "livrable_absent"),
                          uo1[1]: (Verdict.NONCONFORMING, "doublon"),
                          uo21[0]: (Verdict.UNPROVEN, None)})
    service.close_campaign(campaign, users["manager"])
    # 2 × 150,00 + 1 × 600,00 = 900,00 withheld on May 2024
    assert campaign.withheld_total == Decimal("900.00")
    assert campaign.outcome["UO1"]["nonconforming"] == 2 and campaign.outcome["UO1"]["rate"] == "0.142857"
    # Wilson interval with finite population correction contains the rate
    assert Decimal(campaign.outcome["UO1"]["lower"]) < Decimal("0.142857") < Decimal(campaign.outcome["UO1"]["upper"])
    st = billing.statements_of(idf.id, "2024-05")[0]
    assert st.withholdings == Decimal("900.00")
    # subtotal 9 000 + 24 000 + UO4 70 416,67 = 103 416,67 ; − 900 = 102 516,67 HT
    assert st.subtotal == Decimal("103416.67") and st.total_excl_tax == Decimal("102516.67")
    rows = {r["uo_code"]: r for r in billing.three_way(st)}
    assert rows["UO1"]["withheld"] == Decimal("300.00") and rows["UO2.1"]["withheld"] == Decimal("600.00")


def test_withholding_by_extrapolation(idf, month, users):
    idf.contract.control_extrapolate = True
    db.session.flush()
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="abc123")
    uo1 = [i for i, it in enumerate(campaign.items) if it.uo_code == "UO1"]
    uo21 = [i for i, it in enumerate(campaign.items) if it.uo_code == "UO2.1"]
    _judge_all(campaign, {uo1[0]: (Verdict.NONCONFORMING, "livrable_absent"),
                          uo1[1]: (Verdict.UNPROVEN, None), uo21[0]: (Verdict.UNPROVEN, None)})
    service.close_campaign(campaign, users["manager"])
    # UO1: 2 / 14 × 9 000,00 = 1 285,714… → 1 285,71 ; UO2.1: 1 / 36 × 24 000,00 = 666,67
    assert campaign.outcome["UO1"]["withheld"] == "1285.71"
    assert campaign.outcome["UO2.1"]["withheld"] == "666.67"
    assert campaign.withheld_total == Decimal("1952.38")
    assert billing.statements_of(idf.id, "2024-05")[0].withholdings == Decimal("1952.38")


def test_closing_after_certification_makes_an_adjusting_statement(idf, month, users):
    st = billing.statements_of(idf.id, "2024-05")[0]
    billing.certify(st.id, users["finance"])
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="abc123")
    _judge_all(campaign, {0: (Verdict.UNPROVEN, None)})
    value = campaign.items[0].value
    service.close_campaign(campaign, users["manager"])
    statements = billing.statements_of(idf.id, "2024-05")
    assert [s.rank for s in statements] == [0, 1] and statements[0].withholdings == 0
    assert statements[1].withholdings == value and statements[1].total_excl_tax == -value


def test_closing_needs_every_verdict(idf, month, users):
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="x")
    with pytest.raises(service.ControlError, match="restent à examiner"):
        service.close_campaign(campaign, users["manager"])
    with pytest.raises(service.ControlError, match="motif"):
        service.judge_item(campaign.items[0], None, Verdict.NONCONFORMING)


def test_answers_with_proofs_and_deadline_job(idf, month, users, app):
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="x",
                                     today=date(2024, 7, 1))
    assert campaign.response_due_on == date(2024, 7, 31)  # 30 days (contract)
    first, second = campaign.items[0], campaign.items[1]
    with pytest.raises(service.ControlError, match="refusé"):
        service.answer_item(first, users["mandataire"], files=[("notes.txt", b"hello"), ("ok.pdf", PDF)],
                            today=date(2024, 7, 2))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ControlProof)) == 0
    service.answer_item(first, users["mandataire"], reference="DS-77", files=[("ds.pdf", PDF)],
                        today=date(2024, 7, 2))
    with pytest.raises(service.ControlError, match="échéance"):
        service.answer_item(second, users["mandataire"], reference="late", today=date(2024, 8, 1))
    assert service.expire_unanswered(date(2024, 7, 31)) == 0   # due date itself: still open
    expired = service.expire_unanswered(date(2024, 8, 1))
    assert expired == len(campaign.items) - 1
    assert first.verdict == Verdict.PENDING and second.verdict == Verdict.UNPROVEN
    assert "Aucune réponse" in second.verdict_comment and second.judged_by_id is None


def test_proof_download_is_lot_scoped(idf, bre, users, login):
    make_validated(idf, "2024-05", [("UO1", 3, 8)])
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="x")
    service.answer_item(campaign.items[0], users["mandataire"], files=[("scan.png", PNG)])
    db.session.commit()
    proof = db.session.scalar(sa.select(ControlProof))
    url = f"/controles/preuves/{proof.id}"
    own = login("mandataire").get(url)
    assert own.status_code == 200 and own.data == PNG
    assert "attachment" in own.headers["Content-Disposition"]
    assert login("other_mandataire").get(url).status_code == 404
    assert login("other_mandataire").get(f"/controles/{campaign.id}").status_code == 404
    assert login("manager").get(url).status_code == 200


def test_campaign_screens(idf, month, users, login):
    manager = login("manager")
    response = manager.post("/lots/IDF/controles", data={"periods": ["2024-05"], "seed": "web-seed"})
    assert response.status_code == 302
    campaign = db.session.scalar(sa.select(service.ControlCampaign))
    page = manager.get(f"/controles/{campaign.id}").get_data(as_text=True)
    assert "web-seed" in page and "96,0365" in page and "identique" in page
    item = campaign.items[0]
    mandataire = login("mandataire")
    r = mandataire.post(f"/controles/{campaign.id}/dossiers/{item.id}/reponse",
                        data={"reference": "DS-1"})
    assert r.status_code == 302
    db.session.refresh(item)
    assert item.answer_reference == "DS-1"
    r = manager.post(f"/controles/{campaign.id}/dossiers/{item.id}/avis",
                     data={"verdict": "non_conforme", "reason": "livrable_absent"})
    db.session.refresh(item)
    assert item.verdict == "non_conforme"
    assert manager.get(f"/controles/{campaign.id}.xlsx").status_code == 200
    # the mandataire cannot judge
    assert mandataire.post(f"/controles/{campaign.id}/dossiers/{item.id}/avis",
                           data={"verdict": "conforme"}).status_code == 403


def test_the_campaign_page_draws_again_once_with_the_same_answer(idf, month, users, monkeypatch):
    """redraw keeps what it drew (the months' acts are frozen): the same answer as drawing
    again from the acts, without reading them on every view; a change of the items is
    still seen, and a different draw (another seed) is not taken for it."""
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="cache-1")
    service._REDRAWN.clear()
    assert service.redraw(campaign) is True
    calls = []
    real = service.population
    monkeypatch.setattr(service, "population", lambda *a: calls.append(a) or real(*a))
    assert service.redraw(campaign) is True and calls == []       # kept: no act read again
    # the items are read each time: a tampered sample is not reproducible, with or without
    # the kept draw
    item = campaign.items[0]
    kept = item.beneficiary_id
    item.beneficiary_id = "AUTRE-BENEFICIAIRE"
    assert service.redraw(campaign) is False
    service._REDRAWN.clear()
    assert service.redraw(campaign) is False
    item.beneficiary_id = kept
    assert service.redraw(campaign) is True
    # another seed is another draw, kept apart
    campaign.seed = "cache-2"
    fresh = service._draw_again(campaign, {p.period: p.version for p in campaign.periods},
                                {k: v["size"] for k, v in campaign.strata.items()})
    assert service.redraw(campaign) is (fresh == sorted(service.item_key(i) for i in campaign.items))
