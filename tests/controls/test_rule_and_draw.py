"""Controls: the contract's rule exactly, and a draw anyone can repeat from the export."""
import hashlib
import random
from collections import defaultdict
from decimal import Decimal
from io import BytesIO

import pytest
from openpyxl import load_workbook

from fc_market.controls import service
from fc_market.controls.models import Verdict
from fc_market.extensions import db
from tests.billing.helpers import make_validated


@pytest.fixture
def two_months(idf):
    # each month: 60 UO1 acts and 40 UO2.1 acts, N = 100
    make_validated(idf, "2024-05", [("UO1", 3, 60), ("UO2.1", 9, 40)])
    make_validated(idf, "2024-06", [("UO1", 4, 60), ("UO2.1", 10, 40)])


def _first_campaign_closed_with_two_bad(idf, users):
    first = service.open_campaign(idf, ["2024-05"], users["manager"], seed="first")
    assert first.target_size == 50  # p = 0,5: n0 = 96,0365, n = 49,2403 → 50
    for i, item in enumerate(first.items):
        service.judge_item(item, None, Verdict.NONCONFORMING if i < 2 else Verdict.CONFORMING,
                           reason_code="livrable_absent" if i < 2 else None)
    service.close_campaign(first, users["manager"])
    return first


def test_the_next_campaign_keeps_the_contract_rate(idf, two_months, users):
    first = _first_campaign_closed_with_two_bad(idf, users)
    second = service.open_campaign(idf, ["2024-06"], users["manager"], seed="second")
    # the previous rate (2 / 50 = 0,04) would give 13 items; the contract says p = 0,5: 50
    assert second.expected_rate == Decimal("0.5") and second.target_size == 50
    assert ("Proportion attendue p : taux attendu du contrat, p = 0,5 (clé controls.expected_rate) ; "
            f"le taux du contrôle précédent {first.reference} (2 / 50) n'est pas utilisé : le "
            "contrat ne le prévoit pas (controls.use_previous_rate = false).") in second.size_explanation


@pytest.mark.parametrize("floor, p, n", [("0.05", "0.05", 16), ("0.2", "0.2", 39), ("0.03", "0.04", 13)])
def test_the_previous_rate_only_when_the_contract_says_so_with_its_floor(idf, two_months, users,
                                                                          floor, p, n):
    idf.contract.extra_terms = {**idf.contract.extra_terms, "controls.use_previous_rate": True,
                                "controls.previous_rate_floor": floor}
    first = _first_campaign_closed_with_two_bad(idf, users)
    second = service.open_campaign(idf, ["2024-06"], users["manager"], seed="second")
    # Cochran, N = 100, e = 0,10, z = 1,959964: p = 0,05 → n0 = 18,2469, n = 15,5628 → 16 ;
    # p = 0,2 → 61,4633, 38,3037 → 39 ; p = 0,04 → 14,7512, 12,9680 → 13
    assert second.expected_rate == Decimal(p) and second.target_size == n
    assert f"taux du contrôle précédent {first.reference} : 2 / 50 = 0,04" in second.size_explanation
    assert ("relevé au plancher du contrat" in second.size_explanation) == (Decimal(floor) > Decimal("0.04"))


def test_anyone_repeats_the_draw_from_the_export_following_the_page(idf, two_months, users, login):
    campaign = service.open_campaign(idf, ["2024-05", "2024-06"], users["manager"], seed="c0ffee42")
    db.session.commit()
    manager = login("manager")
    page = manager.get(f"/controles/{campaign.id}").get_data(as_text=True)
    # the page's procedure, step by step, which this test follows literally
    for text in ("clé de tirage</strong> <code>mois;UO;date;identifiant</code>",
                 "date au format AAAA-MM-JJ",
                 "triez-les par ordre croissant des points de code Unicode, comme la fonction <code>sorted</code> de Python",
                 "SHA-256 du texte formé de la graine, du caractère <code>|</code> (barre verticale) et du code UO, encodé en UTF-8",
                 "<code>c0ffee42|UO1</code>",
                 'int(hashlib.sha256(texte.encode("utf-8")).hexdigest(), 16)',
                 "<code>rng = random.Random(entier)</code>, puis tirez <code>rng.sample(clés_triées, k)</code>"):
        assert text in page, text
    book = load_workbook(BytesIO(manager.get(f"/controles/{campaign.id}.xlsx").data))
    acts = list(book["Actes facturés"].iter_rows(values_only=True))
    header, rows = acts[0], acts[1:]
    assert header == ("UO (strate)", "Clé de tirage", "Mois", "Date de l'acte",
                      "Bénéficiaire (pseudonyme)", "Valeur HT", "Tiré")
    assert len(rows) == 200  # every billed act, not only the sample
    sizes = {r[0]: r[2] for r in list(book["Tirage"].iter_rows(values_only=True))[1:]}
    keys = defaultdict(list)
    for uo, key, *_ in rows:
        keys[uo].append(key)
    drawn = set()
    for uo, k in sizes.items():
        ordered = sorted(keys[uo])
        entier = int(hashlib.sha256(f"c0ffee42|{uo}".encode("utf-8")).hexdigest(), 16)
        rng = random.Random(entier)
        drawn.update(rng.sample(ordered, k))
    assert drawn == {r[1] for r in rows if r[6] == "oui"}
    items = {f"{i.period};{i.uo_code};{i.act_date.isoformat()};{i.beneficiary_id}"
             for i in campaign.items}
    assert drawn == items and len(items) == campaign.sample_size
    assert service.redraw(campaign) is True


def test_method_for_fc_plain_rule_for_the_mandataire(idf, two_months, users, login):
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="s")
    db.session.commit()
    fc = login("manager").get(f"/controles/{campaign.id}").get_data(as_text=True)
    assert 'id="methode"' in fc and "z = 1,959964" in fc and "Intervalle (Wilson)" in fc
    assert "tirage fait avec Python" in fc
    mandataire = login("mandataire").get(f"/controles/{campaign.id}").get_data(as_text=True)
    assert 'id="methode"' not in mandataire
    due = campaign.response_due_on.strftime("%d/%m/%Y")
    assert "<strong>50 dossier(s)</strong> ont été tirés au hasard parmi les 100 actes facturés" in mandataire
    assert f"<strong>avant le {due}</strong> (inclus)" in mandataire
    assert "Un dossier sans réponse à cette date est jugé « non justifié »." in mandataire
    assert "la valeur des dossiers jugés non conformes ou non justifiés est retenue" in mandataire



def test_the_reasons_of_non_conformity_are_the_contracts(idf, two_months, users):
    idf.contract.extra_terms = {**idf.contract.extra_terms, "controls.nonconformity_reasons": {
        "sans_livrable": "Aucun livrable", "autre": "Autre motif (préciser)"}}
    campaign = service.open_campaign(idf, ["2024-05"], users["manager"], seed="r")
    item = campaign.items[0]
    with pytest.raises(service.ControlError, match="motif choisi dans la liste"):
        service.judge_item(item, None, Verdict.NONCONFORMING, reason_code="livrable_absent")
    service.judge_item(item, None, Verdict.NONCONFORMING, reason_code="sans_livrable")
    assert item.reason_label == "Aucun livrable"
