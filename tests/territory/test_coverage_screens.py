"""One coverage figure and one population per lot, on every screen, under the contract's terms."""
import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.formatting import number, percent
from fc_market.territory import service
from fc_market.territory.loader import load_localities
from fc_market.territory.models import Site
from tests.territory.conftest import add_site, lot

SVG = "{http://www.w3.org/2000/svg}"
AJACCIO = (41.91886, 8.73812)


def _maps(page):
    return [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.S)]


def test_the_same_coverage_on_maillage_lot_page_scorecard_and_cli(app, login, market):
    cor = lot("COR")
    add_site(cor, "AJA", *AJACCIO)
    db.session.commit()
    cov = service.lot_coverage(cor)
    share = percent(cov.rule.share)
    assert cov.rule.total_population == 355_486 == service.lot_population(cor)
    manager = login("manager")
    for url in ("/maillage", "/lots/COR", "/lots/COR/sites", "/pilotage/lots/COR", "/pilotage"):
        page = manager.get(url).get_data(as_text=True)
        assert share in page, url
        assert "30 km" in page or "30\xa0km" in page, url
    page = manager.get("/maillage").get_data(as_text=True)
    assert number(355_486) in page and number(cov.rule.covered_population) in page
    data = json.loads(app.test_cli_runner().invoke(
        args=["territory", "coverage", "COR", "--json"]).output)
    assert (data["share"], data["covered_population"]) == (cov.rule.share, cov.rule.covered_population)
    # the steering pack's sheets
    from fc_market.steering import pack, service as steering
    maillage, zones = pack.coverage_sheets(steering.snapshot())
    row = next(r for r in maillage.rows if r["code"] == "COR")
    assert (row["region"], row["total"], row["covered"], row["share"]) == \
        ("94", 355_486, cov.rule.covered_population, cov.rule.share)
    cor_zones = [z for z in zones.rows if z["code"] == "COR"]
    assert cor_zones[0]["insee"] == cov.rule.uncovered[0].id and len(cor_zones) == 20


def test_the_contract_radius_and_kinds_drive_the_figure_and_the_text(login, market):
    cor = lot("COR")
    add_site(cor, "AJA", *AJACCIO)
    add_site(cor, "BAS", 42.69731, 9.45078, kind="permanence")  # Bastia
    cor.contract.extra_terms = dict(cor.contract.extra_terms, **{"coverage.radius_km": "12.5"})
    db.session.commit()
    cov = service.lot_coverage(cor)
    assert (cov.terms.radius_km, cov.terms.site_kinds) == (Decimal("12.5"), ("permanent",))
    assert cov.rule.radius_km == 12.5
    # by hand: a commune is covered iff its point is within 12.5 km of Ajaccio's site
    from fc_market.territory.geo import haversine_km
    expected = sum(c.population for c in load_localities("94")
                   if haversine_km(c.lat, c.lon, *AJACCIO) <= 12.5)
    assert cov.rule.covered_population == expected
    page = login("manager").get("/lots/COR/sites").get_data(as_text=True)
    assert "12,5 km" in page and "30 km" not in page
    assert percent(expected / 355_486) in page
    # permanences counted by the contract: Bastia now counts too
    cor.contract.extra_terms = dict(cor.contract.extra_terms,
                                    **{"coverage.site_kinds": ["permanent", "permanence"]})
    db.session.commit()
    both = service.lot_coverage(cor)
    assert both.terms.site_kinds == ("permanent", "permanence")
    assert both.rule.covered_population == sum(
        c.population for c in load_localities("94")
        if min(haversine_km(c.lat, c.lon, *AJACCIO),
               haversine_km(c.lat, c.lon, 42.69731, 9.45078)) <= 12.5)
    assert both.rule.covered_population > expected


def test_zones_blanches_are_communes_with_insee_code_and_distance(login, market):
    cor = lot("COR")
    add_site(cor, "AJA", *AJACCIO)
    db.session.commit()
    result = service.lot_coverage(cor).rule
    zones = service.zone_rows(result)
    assert len(zones) == result.uncovered_count
    assert sum(z["population"] for z in zones) == result.uncovered_population
    bastia = next(z for z in zones if z["insee"] == "2B033")
    assert (bastia["name"], bastia["departement"], bastia["population"]) == ("Bastia", "2B", 46_867)
    assert 100 < bastia["nearest_site_km"] < 110  # Ajaccio–Bastia, about 102 km as the crow flies
    page = login("manager").get("/lots/COR/sites").get_data(as_text=True)
    assert "2B033" in page and "Bastia" in page


@pytest.mark.parametrize("indicator, legend", [
    ("couverture", "Couverture (règle du contrat)"),
    ("entrees", "Entrées pour 1 000 habitants (12 mois)"),
    ("objectif", "Réalisation de l'objectif proratisé"),
])
def test_national_map_of_the_18_lots_by_indicator(login, market, indicator, legend):
    add_site(lot("COR"), "AJA", *AJACCIO)
    db.session.commit()
    page = login("manager").get(f"/maillage?indicateur={indicator}").get_data(as_text=True)
    national = next(m for m in _maps(page) if "national-map" in (m.get("class") or ""))
    titles = [t.text for t in national.iter(SVG + "title")]
    assert sum(1 for t in titles if t and t.startswith(("IDF — ", "COR — ", "MAY — "))) == 3
    links = [a for a in national.iter(SVG + "a")]
    assert len(links) == 18
    assert legend in [t.text for t in national.iter(SVG + "text")]
    assert not list(national.iter(SVG + "script")) and "<script" not in ET.tostring(national, "unicode")
    assert 'aria-current="true"' in page
    if indicator == "couverture":
        cor_title = next(t for t in titles if t and t.startswith("COR — "))
        assert cor_title == f"COR — Corse : {percent(service.lot_coverage(lot('COR')).rule.share)}"


def test_national_map_refuses_unknown_indicator_quietly(login, market):
    page = login("manager").get("/maillage?indicateur=<x>").get_data(as_text=True)
    assert "Couverture (règle du contrat)" in page and "&lt;x&gt;" not in page


def test_coverage_inputs_let_anyone_recompute_the_figure(market):
    cor = lot("COR")
    add_site(cor, "AJA", *AJACCIO)
    add_site(cor, "BAS", 42.69731, 9.45078, kind="permanence")
    add_site(cor, "OLD", 42.30627, 9.15050, closed=date(2024, 6, 30))
    db.session.commit()
    inputs = service.coverage_inputs(cor, date(2025, 1, 15))
    assert [s.id for s in inputs.sites] == [db.session.scalar(
        sa.select(Site.id).where(Site.code == "AJA"))]          # open and of a counted kind
    assert (inputs.radius_km, inputs.site_kinds, len(inputs.communes)) == (30.0, ("permanent",), 360)
    from fc_market.territory.geo import DISTANCE_TOLERANCE_KM, haversine_km
    covered = sum(c.population for c in inputs.communes
                  if any(haversine_km(c.lat, c.lon, s.lat, s.lon) <= inputs.radius_km
                         + DISTANCE_TOLERANCE_KM for s in inputs.sites))
    assert covered == service.lot_coverage(cor, date(2025, 1, 15)).rule.covered_population
