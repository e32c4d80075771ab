"""Site requests (open, change, close), FC decisions, history and what-if."""
from datetime import date

import pytest
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.extensions import db
from fc_market.territory import service
from fc_market.territory.loader import load_localities
from fc_market.territory.models import Site, SiteChange
from tests.territory.conftest import add_site

AJACCIO = {"code": "AJA", "name": "Point CEP Ajaccio", "kind": "permanent", "commune": "Ajaccio",
           "latitude": "41.91886", "longitude": "8.73812", "opened_on": "01/02/2025",
           "lundi": "09:00-12:30, 13:30-19:00", "samedi": "9h-12h", "disabled_access": "oui",
           "member": "73282932000074"}


def test_open_request_is_applied_only_on_approval(cor, users):
    change = service.propose_open(cor, AJACCIO, users["mandataire"], reason="Nouveau local")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Site)) == 0
    assert change.proposed["opening_hours"] == {"lundi": "09:00-12:30,13:30-19:00",
                                                "samedi": "09:00-12:00"}
    assert change.proposed["departement"] == "2A"         # deduced from the nearest locality
    service.decide(change, True, "", users["manager"])
    db.session.commit()
    site = db.session.scalar(sa.select(Site))
    assert (site.code, site.kind, site.revision, site.opened_on) == ("AJA", "permanent", 1, date(2025, 2, 1))
    assert site.evening and site.saturday and site.disabled_access
    assert site.member.legal_name == "Association Alpha"
    assert change.status == "approved" and change.site_id == site.id
    actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"site_change.propose", "site_change.approve", "site.open"} <= actions


def test_refusal_needs_a_comment_and_changes_nothing(cor, users):
    site = add_site(cor, "S1", 41.91886, 8.73812)
    change = service.propose_close(site, "30/06/2025", users["mandataire"], reason="Fin de bail")
    with pytest.raises(service.SiteError, match="motivé"):
        service.decide(change, False, " ", users["manager"])
    service.decide(change, False, "Aucune solution de remplacement", users["manager"])
    db.session.commit()
    assert site.closed_on is None and change.status == "refused"
    with pytest.raises(service.SiteError, match="refusée"):
        service.decide(change, True, "", users["manager"])


def test_update_against_an_older_revision_is_refused(cor, users):
    site = add_site(cor, "S1", 41.91886, 8.73812)
    raw = service.raw_from_values(service.site_values(site))
    first = service.propose_update(site, dict(raw, name="Nouveau nom"), users["mandataire"])
    service.decide(first, True, "", users["manager"])
    assert site.revision == 2 and site.name == "Nouveau nom"
    second = SiteChange(lot_id=cor.id, site_id=site.id, action="update", base_revision=1,
                        proposed=dict(service.site_values(site), name="Autre nom"))
    db.session.add(second)
    db.session.flush()
    with pytest.raises(service.SiteError, match="modifié depuis cette demande"):
        service.decide(second, True, "", users["manager"])


def test_one_pending_request_per_site_and_optimistic_lock(cor, users):
    site = add_site(cor, "S1", 41.91886, 8.73812)
    change = service.propose_close(site, "30/06/2025", users["mandataire"], reason="Fin de bail")
    with pytest.raises(service.SiteError, match="déjà en attente"):
        service.propose_close(site, "30/07/2025", users["mandataire"], reason="Autre")
    with pytest.raises(service.SiteError, match="rechargez"):
        service.decide(change, True, "", users["manager"], expected_counter=change.version_counter + 1)


@pytest.mark.parametrize("field,value,message", [
    ("latitude", "43.2965", "vérifiez les coordonnées"),           # Marseille: not in Corsica
    ("lundi", "14:00-12:00", "plage horaire invalide"),
    ("kind", "Kiosque", "Site permanent"),
    ("member", "99999999999999", "n'est pas un membre"),
    ("opened_on", "31/02/2025", "date invalide"),
    ("postcode", "2A000", "cinq chiffres"),
])
def test_invalid_values_are_named(cor, users, field, value, message):
    raw = dict(AJACCIO, **{field: value})
    if field == "latitude":
        raw["longitude"] = "5.3811"
    values, errors = service.validate_site(cor, raw)
    assert any(message in m for _, m in errors), errors


def test_coordinates_default_to_the_commune(cor):
    raw = dict(AJACCIO, latitude="", longitude="", commune="bastia")
    values, errors = service.validate_site(cor, raw)
    assert not errors
    bastia = max((l for l in load_localities("94") if l.name == "Bastia"), key=lambda l: l.population)
    assert float(values["latitude"]) == pytest.approx(bastia.lat, abs=1e-5)
    assert values["departement"] == "2B"


def test_what_if_of_a_closure_before_the_decision(cor, users):
    ajaccio = add_site(cor, "AJA", 41.91886, 8.73812)
    add_site(cor, "BAS", 42.70278, 9.45, kind="permanence")
    change = service.propose_close(ajaccio, "30/06/2025", users["mandataire"], reason="Fin de bail")
    result = service.change_what_if(change, date(2025, 1, 15))
    permanent = result["permanent"]
    assert permanent.after.covered_population == 0
    assert permanent.population_lost == permanent.before.covered_population > 0
    assert result["with_permanences"].after.covered_population > 0   # Bastia stays covered
    # an opening request adds its circle
    opening = service.propose_open(cor, dict(AJACCIO, code="NEW", latitude="42.70278",
                                             longitude="9.45"), users["mandataire"])
    gain = service.change_what_if(opening, date(2025, 1, 15))["permanent"]
    assert gain.population_gained > 0 and gain.population_lost == 0
    assert any(l.name == "Bastia" for l in gain.newly_covered)


def test_coverage_counts_open_permanent_sites_only(cor):
    add_site(cor, "AJA", 41.91886, 8.73812)
    add_site(cor, "BAS", 42.70278, 9.45, kind="permanence")
    add_site(cor, "OLD", 42.30, 9.15, closed=date(2024, 12, 31))
    cov = service.lot_coverage(cor, date(2025, 1, 15))
    assert {s.code for s in cov.sites} == {"AJA", "BAS"}
    assert 0 < cov.permanent.share < cov.with_permanences.share < 1
    data = service.coverage_json(cov)
    assert data["covered_population"] == cov.permanent.covered_population
    assert len(data["largest_uncovered"]) == 10
    pops = [z["population"] for z in data["largest_uncovered"]]
    assert pops == sorted(pops, reverse=True)
    assert service.lot_coverage(cor, date(2025, 1, 15)).permanent is cov.permanent   # cached
