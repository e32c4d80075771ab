"""Demo reporting: every lot's months since the contract started, in every state.

Volumes follow each lot's yearly target (about 155,000 entries a year nationally, shared by
population) with a seasonal profile; an *entry* is a beneficiary whose first level-1 or
level-2 act falls in the year.  Each beneficiary follows a plausible path (UO0 aiguillage,
UO1, often UO2.1, sometimes UO2.2) with one profile (52 % women, 48 % aged 26-44, mostly
employees, health and social work, retail, industry), so the demo data obeys the
contract's rules.  Per lot:

- every month up to three months ago: validated (a few submitted a little late);
- three months ago: version 1 rejected with FC's reasons, version 2 (correction) validated;
- two months ago: submitted late, awaiting review (through the real submission path, which
  also raises a few double-financing alerts planted across neighbouring lots);
- last month: a draft in progress for half of the lots, nothing for the others; once its
  deadline has passed the deadline job marks it late.

Acts go in with bulk Core inserts, lot by lot.
"""
import hashlib
import time
from collections import defaultdict
from datetime import datetime, time as dtime, timedelta

import sqlalchemy as sa

from fc_market.auth.models import Role, User
from fc_market.extensions import db
from fc_market.market.dates import parse_period, period_of
from fc_market.market.models import LotTarget, UnitOfWork
from fc_market.reporting import jobs, service
from fc_market.reporting.models import Act, LotFigures, Report, ReportVersion, VersionStatus
from fc_market.territory.models import Site
from fc_market.territory.population import lot_population

NATIONAL_ENTRIES = 155_000
SEASON = [1.05, 1.1, 1.1, 1.0, 0.95, 0.95, 0.65, 0.45, 1.1, 1.25, 1.2, 1.0]
CHUNK = 10_000
ACT_COLUMNS = ("lot_id", "beneficiary_id", "uo_id", "act_date", "mode", "site_id", "proof_ref",
               "sex", "age_band", "csp", "employment_status", "sector", "source_row")
ACT_DATE = ACT_COLUMNS.index("act_date")


class UO:
    """What the generator needs of a UO, as plain attributes (no ORM access per act)."""

    def __init__(self, unit):
        self.id, self.code, self.level = unit.id, unit.code, unit.level or 0
        self.proof_required = unit.proof_required
        self.prefix = {2: "DS", 1: "N1"}.get(self.level, "RDV")
SEX = (("F", 52), ("M", 48))
AGE = (("<26", 11), ("26-44", 48), ("45-54", 26), ("55+", 15))
CSP = (("1", 1), ("2", 5), ("3", 14), ("4", 21), ("5", 44), ("6", 15))
EMPLOYMENT = (("cdi", 68), ("cdd", 12), ("interim", 5), ("alternance", 2), ("contrat_aide", 2),
              ("independant", 8), ("autre", 3))
SECTOR = (("Q", 21), ("G", 14), ("C", 12), ("N", 7), ("H", 6), ("I", 6), ("M", 6), ("P", 5),
          ("F", 5), ("S", 4), ("K", 3), ("J", 3), ("O", 3), ("R", 2), ("L", 1), ("A", 1),
          ("E", 1))
#: Lot pairs where a few beneficiaries were accompanied twice (double-financing alerts)
DOUBLE_PAIRS = (("IDF", "CVL"), ("IDF", "HDF"), ("ARA", "PAC"), ("BRE", "PDL"), ("OCC", "NAQ"))
REJECTION = ("Les actes de fin de mois manquent ({missing} bénéficiaires reçus après le 25 "
             "absents du fichier) et les résultats de l'enquête de satisfaction de niveau 2 ne "
             "correspondent pas au bilan trimestriel. Merci de déposer une version complète.")


def _draw(rng, choices, k):
    """``k`` values drawn with the weights of ``choices`` (one call per batch)."""
    values = [value for value, _ in choices]
    return rng.choices(values, weights=[weight for _, weight in choices], k=k)


def _ben(code, n):
    return hashlib.sha256(f"fc-market-demo:{code}:{n}".encode()).hexdigest()


def insert_acts(version_id, acts):
    """Bulk insert through the driver's executemany (the ORM and Core parameter processing
    dominate otherwise): plain tuples, the dialect's placeholder style."""
    conn = db.session.connection()
    style = conn.dialect.paramstyle
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
    if mark is None:  # pragma: no cover - other drivers: Core insert
        table = Act.__table__
        cols = ("version_id",) + ACT_COLUMNS
        for i in range(0, len(acts), CHUNK):
            conn.execute(table.insert(), [dict(zip(cols, (version_id,) + a)) for a in acts[i:i + CHUNK]])
        return
    columns = ("version_id",) + ACT_COLUMNS
    sql = (f"INSERT INTO acts ({', '.join(columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    for i in range(0, len(acts), CHUNK):
        conn.exec_driver_sql(sql, [(version_id,) + a for a in acts[i:i + CHUNK]])


class LotSeeder:
    def __init__(self, ctx, lot, uos, mandataire, manager, yearly_total):
        self.ctx, self.lot = ctx, lot
        self.uos = {code: UO(unit) for code, unit in uos.items()}
        self.lot_id, self.lot_code = lot.id, lot.code
        self.rng = ctx.rng(f"reporting:{lot.code}")
        self.mandataire, self.manager = mandataire, manager
        self.yearly_total = yearly_total
        self.sites = db.session.execute(sa.select(Site.id, Site.kind, Site.opened_on, Site.closed_on)
                                        .where(Site.lot_id == lot.id)).all()
        self.site_pools = {}
        self.counter = 0
        self.acts = defaultdict(list)   # period -> [act dict]
        self.first_uo1 = defaultdict(list)

    def yearly_entries(self, year):
        target = db.session.scalar(sa.select(LotTarget.entries).where(
            LotTarget.lot_id == self.lot.id, LotTarget.year == year))
        if target is None:
            target = NATIONAL_ENTRIES * lot_population(self.lot) / max(self.yearly_total, 1)
        return target

    def site_for(self, day):
        pools = self.site_pools.get(day)
        if pools is None:
            open_sites = [s for s in self.sites
                          if s.opened_on <= day and (s.closed_on is None or s.closed_on >= day)]
            pools = self.site_pools[day] = (open_sites,
                                            [s for s in open_sites if s.kind == "permanent"])
        open_sites, permanent = pools
        if not open_sites:
            return None
        pool = permanent if permanent and self.rng.random() < 0.85 else open_sites
        return self.rng.choice(pool).id

    def act(self, ben, uo, day, profile, row):
        """One act as a plain tuple in :data:`ACT_COLUMNS` order (``uo``: a :class:`UO`)."""
        rng = self.rng
        draw = rng.random()
        if uo.level == 0:
            mode = "telephone" if draw < 0.6 else ("presentiel" if draw < 0.88 else "visio")
        else:
            mode = "presentiel" if draw < 0.62 else ("telephone" if draw < 0.84 else "visio")
        site = self.site_for(day) if mode == "presentiel" else None
        if mode == "presentiel" and site is None:
            mode = "telephone"
        self.counter += 1
        proof = (f"{uo.prefix}-{self.lot_code}-{self.counter:07d}"
                 if uo.proof_required or rng.random() < 0.5 else None)
        if not uo.level and rng.random() >= 0.6:
            profile = (None, None, None, None, None)
        return (self.lot_id, ben, uo.id, day, mode, site, proof, *profile, row)
    def journeys(self, periods, last_day):
        """Acts of every beneficiary entering during ``periods``, bucketed by period."""
        rng, uos = self.rng, self.uos
        n = 0
        wanted = set(periods)
        for period in periods:
            start, end = parse_period(period)
            factor = rng.uniform(0.86, 1.08)
            entries = int(self.yearly_entries(start.year) / 12 * SEASON[start.month - 1] * factor
                          * self.ctx.scale)
            days = (end - start).days + 1
            uo0_only = int(entries * 0.22)
            total = entries + uo0_only
            profiles = list(zip(*(_draw(rng, spec, total) for spec in (SEX, AGE, CSP, EMPLOYMENT, SECTOR))))
            for i in range(total):
                n += 1
                ben = _ben(self.lot_code, n)
                profile = profiles[i]
                day = start + timedelta(days=rng.randrange(days))
                path = []
                if i >= entries:
                    path.append(("UO0", day))
                else:
                    if rng.random() < 0.8:
                        path.append(("UO0", day))
                        day += timedelta(days=rng.randint(3, 20))
                    if rng.random() < 0.9:
                        path.append(("UO1", day))
                        if rng.random() < 0.42:
                            day += timedelta(days=rng.randint(15, 60))
                            path.append(("UO2.1", day))
                    else:
                        path.append(("UO2.1", day))
                    if path[-1][0] == "UO2.1" and rng.random() < 0.33:
                        day += timedelta(days=rng.randint(30, 120))
                        path.append(("UO2.2", day))
                for code, when in path:
                    if when > last_day:
                        break
                    p = f"{when.year:04d}-{when.month:02d}"
                    if p not in wanted:
                        continue
                    bucket = self.acts[p]
                    bucket.append(self.act(ben, uos[code], when, profile, len(bucket) + 2))
                    if code == "UO1":
                        self.first_uo1[p].append((ben, when))

    def figures(self, acts):
        rng = self.rng
        by_code = defaultdict(int)
        uo_codes = {u.id: u.code for u in self.uos.values()}
        for a in acts:
            by_code[uo_codes[a[2]]] += 1
        l1 = int(by_code["UO1"] * rng.uniform(0.22, 0.34))
        l2 = int((by_code["UO2.1"] + by_code["UO2.2"]) * rng.uniform(0.25, 0.4))
        useful_n = int((by_code["UO1"] + by_code["UO2.1"]) * rng.uniform(0.08, 0.15))
        quality = 1.0 if self.lot.code not in ("GUY", "COR") else 0.93
        return {"l1_respondents": l1, "l1_satisfied": min(l1, int(l1 * rng.uniform(0.88, 0.94) * quality)),
                "l2_respondents": l2, "l2_satisfied": min(l2, int(l2 * rng.uniform(0.86, 0.92) * quality)),
                "usefulness_respondents": useful_n,
                "usefulness_useful": min(useful_n, int(useful_n * rng.uniform(0.68, 0.8))),
                "complaints": int(len(acts) * rng.uniform(0.0005, 0.002)),
                "uo4_actions": rng.choice([
                    "Formation des conseillers à l'accueil des publics en situation de handicap.",
                    "Campagne d'information dans les bassins d'emploi peu couverts.",
                    "Partenariat avec les OPCO et les associations transitions pro.",
                    "Audit qualité interne et enquête mystère sur deux sites.",
                    "Ouverture de créneaux en soirée et le samedi matin."])}

    def version(self, report, number, status, acts, *, submitted=None, decided=None,
                comment=None, supersedes=None, days_late=0):
        # filled as a draft, then moved along its statuses: a submitted version is frozen
        version = ReportVersion(report_id=report.id, lot_id=self.lot.id, number=number,
                                status=VersionStatus.DRAFT, source="excel",
                                created_by_id=self.mandataire.id,
                                file_name=f"reporting-{self.lot.code}-{report.period}.xlsx",
                                created_at=(submitted or datetime.combine(report.due_on, dtime(9)))
                                - timedelta(hours=2),
                                submitted_at=submitted, decided_at=decided,
                                submitted_by_id=self.mandataire.id if submitted else None,
                                decided_by_id=self.manager.id if decided else None,
                                decision_comment=comment, supersedes_id=supersedes,
                                days_late=days_late, act_count=len(acts), warning_count=0,
                                warnings=[])
        db.session.add(version)
        db.session.flush()
        insert_acts(version.id, acts)
        db.session.add(LotFigures(version_id=version.id, **self.figures(acts)))
        db.session.flush()
        for step in VersionStatus.path(VersionStatus.DRAFT, status):
            version.status = version.status.next(step)
            db.session.flush()
        return version

    def report(self, period):
        start, _ = parse_period(period)
        report = Report(lot_id=self.lot.id, period=period, period_start=start,
                        due_on=service.deadline(self.lot, period))
        db.session.add(report)
        db.session.flush()
        return report

    def submitted_at(self, report, days_late):
        day = report.due_on + timedelta(days=days_late)
        return datetime.combine(day, dtime(8 + self.rng.randrange(9), self.rng.randrange(60)))


def seed(ctx):
    started = time.perf_counter()
    today = ctx.today
    units = db.session.scalars(sa.select(UnitOfWork).where(UnitOfWork.market_id == ctx.market.id)).all()
    uos = {u.code: u for u in units if u.kind == "beneficiary"}
    manager = db.session.scalar(sa.select(User).where(User.role == Role.MANAGER).order_by(User.id))
    population = sum(lot_population(lot) for lot in ctx.lots)
    seeders = {}
    planted = defaultdict(list)   # lot code -> [(beneficiary, date)] to add to its pending month
    totals = defaultdict(int)
    pending_versions = []
    for lot in ctx.lots:
        if lot.contract is None:
            continue
        mandataire = db.session.scalar(sa.select(User).where(User.role == Role.MANDATAIRE,
                                                             User.lot_id == lot.id).order_by(User.id))
        periods = [p for p in service.contract_periods(lot, today) if p < period_of(today)]
        if len(periods) < 4 or mandataire is None or manager is None:
            continue
        seeder = LotSeeder(ctx, lot, uos, mandataire, manager, population)
        seeders[lot.code] = seeder
        last_day = parse_period(periods[-1])[1]
        seeder.journeys(periods, last_day)
        rng = seeder.rng
        p1, p2, p3 = periods[-1], periods[-2], periods[-3]
        for period in periods[:-3]:
            report = seeder.report(period)
            late = rng.randint(1, 6) if rng.random() < 0.08 else 0
            submitted = seeder.submitted_at(report, late if late else -rng.randint(0, 8))
            seeder.version(report, 1, VersionStatus.VALIDATED, seeder.acts[period],
                           submitted=submitted, decided=submitted + timedelta(days=rng.randint(2, 9)),
                           days_late=late)
            totals["validated"] += 1
        # rejected then corrected and validated
        report = seeder.report(p3)
        acts = seeder.acts[p3]
        missing = [a for a in acts if a[ACT_DATE].day > 25]
        first = seeder.submitted_at(report, -rng.randint(0, 5))
        # version 1 was rejected, then superseded when its correction was submitted
        v1 = seeder.version(report, 1, VersionStatus.SUPERSEDED, [a for a in acts if a[ACT_DATE].day <= 25],
                            submitted=first, decided=first + timedelta(days=4),
                            comment=REJECTION.format(missing=len(missing)))
        second = first + timedelta(days=rng.randint(6, 10))
        seeder.version(report, 2, VersionStatus.VALIDATED, acts, submitted=second,
                       decided=second + timedelta(days=3), supersedes=v1.id,
                       days_late=service.compute_days_late(report, second.date()))
        totals["corrected"] += 1
        # sample beneficiaries other lots will "also" accompany (double financing)
        for a_code, b_code in DOUBLE_PAIRS:
            if lot.code == a_code:
                sample = seeder.first_uo1[p3][:2]
                planted[b_code].extend(sample)
        seeder.p1, seeder.p2 = p1, p2
        totals["acts"] += sum(len(v) for k, v in seeder.acts.items() if k not in (p1, p2))
        seeder.acts = {p1: seeder.acts[p1], p2: seeder.acts[p2]}  # free the inserted months
        seeder.first_uo1 = None
        db.session.flush()

    # pending months go through the real submission path (checks, warnings, alerts)
    for code, seeder in seeders.items():
        lot, rng = seeder.lot, seeder.rng
        report = seeder.report(seeder.p2)
        acts = list(seeder.acts[seeder.p2])
        day = parse_period(seeder.p2)[0] + timedelta(days=9)
        for ben, _ in planted.get(code, []):
            acts.append(seeder.act(ben, seeder.uos["UO1"], day, ("F", "26-44", "5", "cdi", "Q"),
                                   len(acts) + 2))
        draft = seeder.version(report, 1, VersionStatus.DRAFT, acts)
        days_late = rng.randint(1, 9)
        checker = service.submit(draft, seeder.mandataire, today=report.due_on + timedelta(days=days_late),
                                 submitted_at=seeder.submitted_at(report, days_late))
        if checker.error_count:  # pragma: no cover - the generator obeys the rules
            raise RuntimeError(f"demo reporting {code} {seeder.p2}: {checker.errors[:3]}")
        pending_versions.append(draft)
        totals["acts"] += len(acts)
        if lot.number % 2 == 0:
            report = seeder.report(seeder.p1)
            seeder.version(report, 1, VersionStatus.DRAFT, seeder.acts[seeder.p1][:200])
            totals["drafts"] += 1
    db.session.flush()
    marked = jobs.mark_late(today)
    from fc_market.reporting.models import DoubleFinancingAlert
    alerts = db.session.scalar(sa.select(sa.func.count()).select_from(DoubleFinancingAlert))
    elapsed = time.perf_counter() - started
    versions = totals["validated"] + 2 * totals["corrected"] + len(pending_versions)
    acts = f"{totals['acts']:,}".replace(",", " ")
    ctx.notes.append(
        f"Reporting : {versions} versions déposées, {acts} actes ; par lot un mois rejeté puis corrigé, un mois déposé en retard en attente "
        f"d'examen, {totals['drafts']} brouillon(s) en cours, {marked} rapport(s) marqué(s) en "
        f"retard, {alerts} alerte(s) de double financement ({elapsed:.0f} s).")
