"""Site form: date pickers, and the commune chosen from the communes list (INSEE code) fills
in the coordinates, which stay adjustable."""
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.territory.models import SiteChange
from tests.territory.test_views_and_import import FORM

#: Vitry-sur-Seine in the communes base (INSEE 94081, Val-de-Marne)
VITRY = {"insee": "94081", "departement": "94", "lat": "48.78880", "lon": "2.38942"}


def test_form_has_date_pickers_and_the_commune_picker(login, market):
    page = login("mandataire").get("/lots/IDF/sites/nouveau").get_data(as_text=True)
    assert page.count('type="date"') == 2
    assert 'data-communes-url="/lots/IDF/communes.json"' in page
    assert "/static/js/commune-picker.js" in page and 'name="insee"' in page


def test_communes_list_of_the_lot_region(login, market):
    communes = login("mandataire").get("/lots/IDF/communes.json").get_json()
    vitry = next(c for c in communes if c["insee"] == VITRY["insee"])
    assert vitry == {"insee": "94081", "name": "Vitry-sur-Seine", "departement": "94",
                     "lat": VITRY["lat"], "lon": VITRY["lon"]}
    assert all(c["departement"] in ("75", "77", "78", "91", "92", "93", "94", "95") for c in communes)
    assert login("mandataire").get("/lots/BRE/communes.json").status_code == 404


def test_insee_code_fills_the_commune_and_its_coordinates(login, market):
    data = dict(FORM, commune="", latitude="", longitude="", insee="94081", opened_on="2025-03-01")
    response = login("mandataire").post("/lots/IDF/sites/nouveau", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    proposed = db.session.scalar(sa.select(SiteChange)).proposed
    assert proposed["commune"] == "Vitry-sur-Seine" and proposed["departement"] == "94"
    assert proposed["opened_on"] == "2025-03-01"  # the date picker's ISO value
    assert (round(float(proposed["latitude"]), 5), round(float(proposed["longitude"]), 5)) == (48.7888, 2.38942)


def test_adjusted_coordinates_stay(login, market):
    data = dict(FORM, commune="", insee="94081", latitude="48.7900", longitude="2.4000",
                opened_on="2025-03-01")
    assert login("mandataire").post("/lots/IDF/sites/nouveau", data=data).status_code == 302
    proposed = db.session.scalar(sa.select(SiteChange)).proposed
    assert proposed["commune"] == "Vitry-sur-Seine"
    assert (float(proposed["latitude"]), float(proposed["longitude"])) == (48.79, 2.4)
