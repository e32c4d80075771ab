#!/usr/bin/env python
"""Time the coverage of all 18 lots over the ~35,000 communes, cold.

    .venv/bin/python bench/bench_coverage.py [--sites-per-lot 15] [--repeat 5]

*Cold* means every cache is cleared first: each run reads ``communes.csv.gz``, prepares
the communes of each lot and computes the 18 shares; the budget is
:data:`COLD_BUDGET_MS`.  The distances of the zones blanches to their nearest site (computed
on first use, for a lot page or the CLI) are timed separately.

Sites are synthetic but plausible and deterministic: for each lot, the most
populous communes taken greedily in population order, each at least
``--spacing`` km from the ones already chosen (relaxed to 10 km for small
lots such as Martinique), up to ``--sites-per-lot``.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fc_market.territory.geo import Locality, Site, coverage, haversine_km  # noqa: E402
from fc_market.territory.loader import REGIONS, clear_cache, load_localities  # noqa: E402


def plausible_sites(localities, n=15, spacing_km=40.0):
    ranked = sorted(localities, key=lambda l: (-l.population, l.id))
    chosen: list[Locality] = []
    for spacing in (spacing_km, 10.0):
        for loc in ranked:
            if len(chosen) >= n:
                break
            if loc in chosen:
                continue
            if all(haversine_km(loc.lat, loc.lon, c.lat, c.lon) >= spacing for c in chosen):
                chosen.append(loc)
    return [Site(f"S{l.id}", l.lat, l.lon, l.name, "permanent") for l in chosen]


#: Budget of the cold coverage of the 18 lots (issue 12)
COLD_BUDGET_MS = 300.0


def run_all(lots):
    return {code: coverage(locs, sites) for code, (locs, sites) in lots.items()}


def run_cold(sites_by_lot, radius_km=30.0):
    """Cold: file read, preparation and coverage of every lot."""
    clear_cache()
    return {code: coverage(load_localities(code), sites, radius_km)
            for code, sites in sites_by_lot.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites-per-lot", type=int, default=15)
    ap.add_argument("--spacing", type=float, default=40.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=int, default=1,
                    help="also time a synthetic dataset with N jittered copies of every locality")
    args = ap.parse_args(argv)

    clear_cache()
    t0 = time.perf_counter()
    all_locs = load_localities()
    t_load = time.perf_counter() - t0
    lots = {}
    for code in REGIONS:
        locs = load_localities(code)
        lots[code] = (locs, plausible_sites(locs, args.sites_per_lot, args.spacing))
    n_sites = sum(len(s) for _, s in lots.values())

    sites_by_lot = {code: sites for code, (_, sites) in lots.items()}
    timings, cpu, distances = [], [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        results = run_cold(sites_by_lot)
        timings.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        t0 = time.perf_counter()
        for res in results.values():
            len(res.nearest_km)
        distances.append(time.perf_counter() - t0)
    warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        run_all(lots)
        warm.append(time.perf_counter() - t0)

    print(f"dataset: {len(all_locs):,} communes, {sum(l.population for l in all_locs):,} inhabitants "
          f"(file read in {t_load * 1000:.0f} ms)")
    print(f"sites: {n_sites} ({args.sites_per_lot} per lot max, spacing {args.spacing:g} km)")
    print(f"{'lot':<4} {'region':<28} {'communes':>8} {'sites':>5} {'covered':>8} {'zones blanches':>14}")
    for code, res in results.items():
        print(f"{code:<4} {REGIONS[code]:<28} {res.locality_count:>8} {len(lots[code][1]):>5} "
              f"{res.share:>8.1%} {res.uncovered_count:>14}")
    best = min(timings) * 1000
    print(f"coverage of all 18 lots, cold (read + prepare + cover): best {best:.1f} ms, "
          f"median {statistics.median(timings) * 1000:.1f} ms over {args.repeat} runs; "
          f"floor {COLD_BUDGET_MS:.0f} ms: {'OK' if best <= COLD_BUDGET_MS else 'EXCEEDED'} "
          f"(CPU time: best {min(cpu) * 1000:.1f} ms; a wall time far above it means a busy "
          f"machine)")
    print(f"nearest-site distances of every zone blanche (on first use): best "
          f"{min(distances) * 1000:.1f} ms; coverage from the loaded communes (file "
          f"already read): best {min(warm) * 1000:.1f} ms")

    if args.scale > 1:
        rnd = random.Random(42)
        big = {}
        for code, (locs, sites) in lots.items():
            extra = [Locality(f"{l.id}-{k}", l.name, l.departement,
                              l.lat + rnd.uniform(-0.05, 0.05), l.lon + rnd.uniform(-0.05, 0.05),
                              l.population, l.region_code)
                     for k in range(1, args.scale) for l in locs]
            big[code] = (list(locs) + extra, sites)
        n = sum(len(l) for l, _ in big.values())
        t0 = time.perf_counter()
        run_all(big)
        print(f"synthetic x{args.scale} ({n:,} localities): {(time.perf_counter() - t0) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
