"""Demo sites: plausible places for every lot, some lots deliberately thin.

Permanent sites go to the most populous localities, at least ``spacing`` km apart, so the
30 km circles spread over the region; a few lots get fewer sites so "zones blanches" and
access flags show.  Permanences and itinerant points fill some gaps.
"""
from datetime import date
from decimal import Decimal

from fc_market.extensions import db
from fc_market.territory.geo import haversine_km
from fc_market.territory.loader import load_localities
from fc_market.territory.models import Site

#: Share of the "full" network each lot gets: below 1, coverage is visibly thin
THIN_LOTS = {"NAQ": 0.45, "GES": 0.55, "GUY": 0.5, "COR": 0.6, "BFC": 0.7}
#: Number of permanent sites for a full network, by lot (roughly one per 30 km-wide basin)
FULL_NETWORK = {"IDF": 14, "CVL": 16, "BFC": 20, "NOR": 16, "HDF": 18, "GES": 24, "PDL": 16,
                "BRE": 16, "NAQ": 34, "OCC": 30, "ARA": 30, "PAC": 18, "COR": 8, "GUA": 4,
                "MAR": 3, "GUY": 6, "REU": 5, "MAY": 3}
HOURS = {
    "standard": {"lundi": "09:00-12:30,13:30-17:30", "mardi": "09:00-12:30,13:30-17:30",
                 "mercredi": "09:00-12:30,13:30-17:30", "jeudi": "09:00-12:30,13:30-17:30",
                 "vendredi": "09:00-12:30,13:30-17:00"},
    "extended": {"lundi": "09:00-19:00", "mardi": "09:00-19:00", "mercredi": "09:00-19:00",
                 "jeudi": "09:00-20:00", "vendredi": "09:00-18:00", "samedi": "09:00-12:30"},
    "permanence": {"mardi": "14:00-18:00", "jeudi": "09:00-12:30"},
}


def place_sites(localities, count, spacing_km):
    """The ``count`` most populous localities at least ``spacing_km`` apart (greedy)."""
    chosen = []
    for loc in sorted(localities, key=lambda l: (-l.population, l.id)):
        if all(haversine_km(loc.lat, loc.lon, c.lat, c.lon) >= spacing_km for c in chosen):
            chosen.append(loc)
            if len(chosen) == count:
                break
    return chosen


def seed(ctx):
    rng = ctx.rng("territory")
    opened = ctx.market.start_date
    total = 0
    for lot in ctx.lots:
        localities = load_localities(lot.region_code)
        members = sorted(lot.operator.members, key=lambda m: m.id) if lot.operator else []
        count = max(2, round(FULL_NETWORK.get(lot.code, 10) * THIN_LOTS.get(lot.code, 1.0)))
        spacing = 22 if lot.code == "IDF" else 38
        permanent = place_sites(localities, count, spacing)
        taken = {loc.id for loc in permanent}
        extra = place_sites([l for l in localities if l.id not in taken], max(1, count // 3), 45)
        n = 0
        for i, loc in enumerate(permanent + extra):
            n += 1
            kind = "permanent" if i < len(permanent) else ("itinerant" if n % 4 == 0 else "permanence")
            closed_on = None
            if kind == "permanence" and n % 7 == 0:
                closed_on = date(ctx.today.year, 3, 31) if ctx.today.month > 3 else None
            member = members[i % len(members)] if members else None
            db.session.add(Site(
                lot=lot, code=f"S{n:03d}", member=member,
                name=f"{'Point CEP' if kind == 'permanent' else 'Permanence CEP'} {loc.name}",
                address=f"{rng.randint(1, 120)} rue de la République (fictif)",
                commune=loc.name, departement=loc.departement,
                latitude=Decimal(f"{loc.lat:.6f}"), longitude=Decimal(f"{loc.lon:.6f}"),
                kind=kind,
                opening_hours=HOURS["permanence" if kind != "permanent"
                                    else ("extended" if i % 3 == 0 else "standard")],
                disabled_access=kind == "permanent" or rng.random() < 0.6,
                opened_on=opened, closed_on=closed_on))
        total += n
    db.session.flush()
    ctx.notes.append(f"{total} sites d'accueil répartis sur les 18 lots "
                     f"(réseau volontairement clairsemé pour {', '.join(sorted(THIN_LOTS))}).")


