"""The lot map is drawn once per process for the same inputs: the cached map is exactly the
map drawn afresh, and any input that changes the map (a site, its kind, the radius) draws
it again."""
from decimal import Decimal

from fc_market.extensions import db
from fc_market.territory import service, views
from tests.territory.conftest import add_site, lot


def _fresh(cov, mode):
    return views._draw_lot_map(cov, mode, None, None, "lotmap")


def test_the_cached_map_is_the_fresh_map_and_follows_every_input(market):
    cor = lot("COR")
    site = add_site(cor, "AJA", 41.91886, 8.73812)
    add_site(cor, "BAS", 42.69731, 9.45078, kind="permanence")
    db.session.commit()
    views._MAPS.clear()
    cov = service.lot_coverage(cor)
    first = {m: views.lot_map(cov, m) for m in ("permanent", "with_permanences")}
    for mode, svg in first.items():
        assert svg == _fresh(cov, mode)
        assert views.lot_map(service.lot_coverage(cor), mode) is svg  # served from the cache
    assert first["permanent"] != first["with_permanences"]

    site.latitude, site.longitude = Decimal("41.6"), Decimal("9.2")  # Porto-Vecchio
    db.session.commit()
    moved = service.lot_coverage(cor)
    assert views.lot_map(moved, "permanent") == _fresh(moved, "permanent") != first["permanent"]

    cor.contract.extra_terms = dict(cor.contract.extra_terms, **{"coverage.radius_km": "12.5"})
    db.session.commit()
    narrower = service.lot_coverage(cor)
    assert views.lot_map(narrower, "permanent") == _fresh(narrower, "permanent")
    assert views.lot_map(narrower, "permanent") != views.lot_map(moved, "permanent")


def test_the_cache_is_bounded(market):
    cor = lot("COR")
    add_site(cor, "AJA", 41.91886, 8.73812)
    db.session.commit()
    views._MAPS.clear()
    for i in range(views._MAPS_SIZE + 5):
        views.lot_map(service.lot_coverage(cor), "permanent", id_prefix=f"map{i}")
    assert len(views._MAPS) == views._MAPS_SIZE
