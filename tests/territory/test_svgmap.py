"""The lot map: a standalone SVG that parses, is legible and escapes every text."""
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from fc_market.territory.geo import KM_PER_DEGREE, Site, coverage, haversine_km
from fc_market.territory.loader import load_localities
from fc_market.territory.svgmap import DEFAULT_ATTRIBUTION, NNBSP, format_population, render_lot_map

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python module: no app, no database (overrides the conftest fixture)."""
    yield


@dataclass
class Place:  # a plain dataclass, as the views will pass
    id: int
    name: str
    departement: str
    lat: float
    lon: float
    population: int


@dataclass
class Office:
    id: str
    name: str
    kind: str
    lat: float
    lon: float


def _lot():
    places = [
        Place(1, "Bourg-en-Bresse", "01", 46.2052, 5.2255, 41_000),
        Place(2, "Trou <perdu> & \"Cie\"", "01", 46.90, 5.90, 12_345),   # ~90 km away
        Place(3, "L'Isle-d'Abeau", "38", 45.62, 5.23, 16_000),            # ~65 km
        Place(4, "Pont-d'Ain", "01", 46.05, 5.34, 2_900),                 # ~19 km
    ]
    offices = [
        Office("A", "Espace CEP <Bourg> & Ain", "permanent", 46.2052, 5.2255),
        Office("B", "Permanence d'Oyonnax", "permanence", 46.255, 5.655),
        Office("C", "Bus CEP", "itinerant", 45.80, 5.10),
    ]
    return places, offices


def _titles(root):
    return [t.text for t in root.iter(SVG + "title")]


def _texts(root):
    return [t.text for t in root.iter(SVG + "text")]


def test_format_population_french_style():
    assert format_population(12345) == f"12{NNBSP}345"
    assert format_population(1234567) == f"1{NNBSP}234{NNBSP}567"
    assert format_population(999) == "999"


def test_svg_parses_and_scales_with_viewbox():
    places, offices = _lot()
    svg = render_lot_map(places, offices, title="Lot Ain <test>")
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    x, y, w, h = map(float, root.get("viewBox").split())
    assert (x, y, w) == (0, 0, 1000) and h > 0
    assert root.get("width") is None and root.get("height") is None
    assert _titles(root)[0] == "Lot Ain <test>"
    assert "<script" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_legend_in_french():
    places, offices = _lot()
    texts = _texts(ET.fromstring(render_lot_map(places, offices)))
    for label in ("Site permanent", "Permanence", "Itinérant", "Zone blanche (population)",
                  "Rayon de 30 km", "Commune couverte", DEFAULT_ATTRIBUTION):
        assert label in texts
    assert any(t.endswith(" km") and t[0].isdigit() for t in texts)  # scale bar


def test_names_are_escaped_and_titled():
    places, offices = _lot()
    svg = render_lot_map(places, offices)
    assert "Trou &lt;perdu&gt; &amp; \"Cie\"" in svg
    assert "<perdu>" not in svg and "<Bourg>" not in svg
    titles = _titles(ET.fromstring(svg))
    assert f"Trou <perdu> & \"Cie\" – 12{NNBSP}345 hab." in titles
    assert f"L'Isle-d'Abeau – 16{NNBSP}000 hab." in titles
    assert "Espace CEP <Bourg> & Ain – Site permanent" in titles
    assert "Permanence d'Oyonnax – Permanence" in titles
    assert "Bus CEP – Itinérant" in titles


def test_zones_blanches_use_permanent_sites_only():
    places, offices = _lot()
    root = ET.fromstring(render_lot_map(places, offices))
    zones = next(g for g in root.iter(SVG + "g") if g.get("class") == "zones-blanches")
    circles = list(zones.iter(SVG + "circle"))
    # Pont-d'Ain (19 km) is covered; the others are not (the permanence does not count)
    assert [c.find(SVG + "title").text.split(" – ")[0] for c in circles] == [
        "L'Isle-d'Abeau", "Trou <perdu> & \"Cie\""]
    # area proportional to population: radius ~ sqrt(population)
    r = [float(c.get("r")) for c in circles]
    assert r[0] / r[1] == pytest.approx(math.sqrt(16_000 / 12_345), rel=0.02)
    radii = next(g for g in root.iter(SVG + "g") if g.get("class") == "radii")
    assert len(list(radii)) == 1  # one 30 km radius: the permanent site


def test_site_symbols_by_kind():
    places, offices = _lot()
    root = ET.fromstring(render_lot_map(places, offices))
    sites = next(g for g in root.iter(SVG + "g") if g.get("class") == "sites")
    by_title = {el.find(SVG + "title").text: el for el in sites}
    assert by_title["Espace CEP <Bourg> & Ain – Site permanent"].tag == SVG + "rect"
    hollow = by_title["Permanence d'Oyonnax – Permanence"]
    assert hollow.tag == SVG + "circle" and hollow.get("fill") == "#fff"
    assert by_title["Bus CEP – Itinérant"].tag == SVG + "polygon"


def test_radius_is_true_to_scale():
    places, offices = _lot()
    root = ET.fromstring(render_lot_map(places, offices))
    scale_text = next(t for t in _texts(root) if t.endswith(" km") and t[0].isdigit())
    bar = next(g for g in root.iter(SVG + "g") if g.get("class") == "scale").find(SVG + "path")
    bar_units = float(bar.get("d").split("h")[1].split("v")[0])
    units_per_km = bar_units / float(scale_text.split()[0])
    ellipse = next(g for g in root.iter(SVG + "g") if g.get("class") == "radii")[0]
    ry = float(ellipse.get("ry") or ellipse.get("r"))
    assert ry == pytest.approx(30 * units_per_km, rel=0.01)
    if ellipse.get("rx"):
        lat_mid = (46.90 + 45.62) / 2
        expected = ry * math.cos(math.radians(lat_mid)) / math.cos(math.radians(46.2052))
        assert float(ellipse.get("rx")) == pytest.approx(expected, rel=0.01)


def test_precomputed_result_and_caps():
    places, offices = _lot()
    res = coverage(places, [])  # nobody covered
    svg = render_lot_map(places, offices, result=res, max_uncovered=2, max_covered_dots=0)
    root = ET.fromstring(svg)
    zones = next(g for g in root.iter(SVG + "g") if g.get("class") == "zones-blanches")
    assert len(list(zones)) == 2
    assert any(t.startswith("Zones blanches : les 2 plus peuplées sur 4") for t in _texts(root))
    assert "Commune couverte" not in _texts(root)


def test_empty_and_single_point_maps_are_valid():
    ET.fromstring(render_lot_map([], []))
    svg = render_lot_map([Place(1, "Seul", "01", 46.0, 5.0, 600)], [])
    assert f"Seul – 600 hab." in _titles(ET.fromstring(svg))


def test_id_prefix_is_escaped_and_used():
    places, offices = _lot()
    svg = render_lot_map(places, offices, id_prefix='lot-"84"')
    root = ET.fromstring(svg)
    assert root.get("aria-labelledby") == 'lot-"84"-title'


def test_real_lot_map_stays_small():
    locs = load_localities("84")
    ranked = sorted(locs, key=lambda l: -l.population)
    sites = []
    for l in ranked:
        if len(sites) == 15:
            break
        if all(haversine_km(l.lat, l.lon, s.lat, s.lon) >= 40 for s in sites):
            sites.append(Site(l.id, l.lat, l.lon, l.name, "permanent"))
    svg = render_lot_map(locs, sites, title="Auvergne-Rhône-Alpes")
    root = ET.fromstring(svg)
    zones = next(g for g in root.iter(SVG + "g") if g.get("class") == "zones-blanches")
    assert len(list(zones)) == 400
    assert len(svg.encode()) < 150_000


# --------------------------------------------------------------------------- outlines

def test_lot_map_draws_the_departements_and_region_under_the_circles():
    from fc_market.territory.loader import load_outlines
    communes = load_localities("94")
    svg = render_lot_map(communes, [Site("AJA", 41.91886, 8.73812, "Ajaccio")],
                         outlines=load_outlines(), region_code="94")
    root = ET.fromstring(svg)
    groups = [g.get("class") for g in root.iter(SVG + "g") if g.get("class")]
    assert groups.index("outlines") < groups.index("radii") < groups.index("sites")
    outlines = next(g for g in root.iter(SVG + "g") if g.get("class") == "outlines")
    titles = [t.text for t in outlines.iter(SVG + "title")]
    assert titles == ["Corse-du-Sud (2A)", "Haute-Corse (2B)"]
    region = [p for p in outlines.iter(SVG + "path") if p.get("class") == "region"]
    assert len(region) == 1 and region[0].get("d").startswith("M")


def test_lot_map_without_outlines_is_unchanged():
    places, offices = _lot()
    assert 'class="outlines"' not in render_lot_map(places, offices)


# --------------------------------------------------------------------------- national map

def test_classes_are_equal_intervals():
    from fc_market.territory.svgmap import _class_of, classes
    bounds = classes([0.5, 0.6, None, 1.0])
    assert bounds == [pytest.approx(b) for b in [(0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9),
                                                 (0.9, 1.0)]]
    assert [_class_of(v, bounds) for v in (0.5, 0.6, 0.61, 1.0, None)] == [0, 0, 1, 4, None]
    assert classes([None]) == [] and classes([0.3, 0.3]) == [(0.3, 0.3)]


def test_national_map_colours_every_lot_and_draws_the_overseas_as_insets():
    from fc_market.territory.loader import REGIONS, load_outlines
    from fc_market.territory.svgmap import NO_DATA, PALETTE, render_national_map
    values = {code: i / 17 for i, code in enumerate(REGIONS)}
    values["94"] = None
    svg = render_national_map(values, load_outlines(), title="Carte <test>",
                              legend_title="Couverture", fmt=lambda v: f"{v:.0%}",
                              names={"94": "COR & Corse"}, links={"11": "/lots/IDF/sites?a=1&b=2"})
    root = ET.fromstring(svg)
    metro = next(g for g in root.iter(SVG + "g") if g.get("class") == "metropole")
    insets = next(g for g in root.iter(SVG + "g") if g.get("class") == "insets")
    assert len(list(metro.iter(SVG + "path"))) == 13 and len(list(insets.iter(SVG + "path"))) == 5
    fills = {p.find(SVG + "title").text.split(" : ")[0]: p.get("fill")
             for p in root.iter(SVG + "path")}
    assert fills["Île-de-France"] == PALETTE[0]            # value 0: lowest class
    assert fills["Mayotte"] == PALETTE[-1]                 # value 1: highest class
    assert fills["COR & Corse"] == NO_DATA
    assert [t.text for t in insets.iter(SVG + "text")] == [
        "Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"]
    link = next(root.iter(SVG + "a"))
    assert link.get("href") == "/lots/IDF/sites?a=1&b=2"
    assert "&amp;b=2" in svg and "Carte &lt;test&gt;" in svg
    assert "non disponible" in [t.text for t in root.iter(SVG + "text")]
    assert "<script" not in svg
