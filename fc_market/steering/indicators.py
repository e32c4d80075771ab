"""Indicators computed from the monthly aggregates: pure functions, no database.

Each indicator is a :class:`Reading` (value, sample size, plain-French detail).  Rates are
floats in [0, 1]; they are pooled over the months of a window (sum of numerators over sum of
denominators), never averaged.  Targets: see :func:`pacing` and :func:`forecast`.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal

from fc_market.market.terms import EXTRA_KEYS, CoverageTerms
from fc_market.territory.population import lot_population

#: Months a quality indicator pools by default (the contract's
#: ``steering.indicator_window_months`` wins: pass it as ``LotView(window_months=…)``)
WINDOW_MONTHS = EXTRA_KEYS["steering.indicator_window_months"].default


@dataclass(frozen=True)
class Reading:
    value: float | None
    sample: int | None = None
    detail: str = ""

    @property
    def known(self):
        return self.value is not None


NONE = Reading(None)


@dataclass(frozen=True)
class Indicator:
    key: str
    label: str
    kind: str            # percent, number, days, count
    better: str          # higher or lower
    definition: str
    #: Column heading where 18 lots × a dozen indicators must fit one screen
    short: str = ""

    @property
    def heading(self):
        return self.short or self.label

    def bound(self, values):
        """The same indicator with its texts' placeholders ({window}, {radius}…) filled."""
        return replace(self, label=self.label.format(**values),
                       definition=self.definition.format(**values),
                       short=self.short.format(**values))


def placeholders(terms=None):
    """Values the indicator texts print: the lot's contract terms, or the defaults."""
    if terms is None:
        d = {k: EXTRA_KEYS[k].default for k in EXTRA_KEYS}
        coverage = CoverageTerms(Decimal(d["coverage.radius_km"]), tuple(d["coverage.site_kinds"]))
        window, level2, info, short, impl = (d["steering.indicator_window_months"],
                                             d["steering.level2_days"],
                                             d["steering.information_only_days"],
                                             d["steering.short_pathway_days"],
                                             d["steering.implementation_days"])
    else:
        st, coverage = terms.steering, terms.coverage
        window, level2, info, short, impl = (st.indicator_window_months, st.level2_days,
                                             st.information_only_days, st.short_pathway_days,
                                             st.implementation_days)
    return {"window": window, "level2_days": level2, "info_days": info, "short_days": short,
            "impl_days": impl, "radius": coverage.radius_label, "kinds": coverage.kinds_label}


def indicators_for(terms=None):
    """{key: Indicator} with the texts of ``terms`` (a lot's :class:`LotTerms`)."""
    values = placeholders(terms)
    return {key: ind.bound(values) for key, ind in INDICATOR_TEMPLATES.items()}


INDICATOR_TEMPLATES = {i.key: i for i in (
    Indicator("entries", "Entrées", "count", "higher",
              "Bénéficiaires dont le premier acte de niveau 1 ou 2 de l'année a eu lieu dans la période."),
    Indicator("entries_ytd", "Entrées depuis janvier", "count", "higher",
              "Bénéficiaires dont le premier acte de niveau 1 ou 2 de l'année a eu lieu depuis janvier.",),
    Indicator("target_achievement", "Réalisation de l'objectif proratisé", "percent", "higher",
              "Entrées cumulées rapportées à l'objectif annuel proratisé au dernier mois validé "
              "(profil mensuel du contrat, uniforme à défaut).", short="Objectif proratisé"),
    Indicator("forecast_achievement", "Prévision de fin d'année / objectif", "percent", "higher",
              "Entrées prévues au 31 décembre (tendance linéaire des entrées mensuelles, corrigée du "
              "profil mensuel du contrat ou, à défaut, de la saisonnalité de l'année précédente) "
              "rapportées à l'objectif annuel.", short="Prévision / objectif annuel"),
    Indicator("entries_per_1000", "Entrées pour 1 000 habitants (12 mois)", "number", "higher",
              "Entrées des douze derniers mois (annualisées s'il y en a moins) pour 1 000 habitants "
              "du lot (somme des populations légales INSEE de ses communes).", short="Entrées pour 1 000 hab."),
    Indicator("coverage_share", "Population à moins de {radius} d'un site", "percent", "higher",
              "Part de la population du lot (toutes ses communes, populations légales INSEE) dont la "
              "commune est à moins de {radius} (à vol d'oiseau) d'un site ouvert ({kinds}).",
              short="Population à {radius} d'un site"),
    Indicator("satisfaction_l1", "Satisfaction après le niveau 1", "percent", "higher",
              "Satisfaits ou très satisfaits / répondants, sur les {window} derniers mois validés.", short="Satisfaction niveau 1"),
    Indicator("satisfaction_l2", "Satisfaction après le niveau 2", "percent", "higher",
              "Satisfaits ou très satisfaits / répondants, sur les {window} derniers mois validés.", short="Satisfaction niveau 2"),
    Indicator("usefulness", "Utilité à six mois", "percent", "higher",
              "Jugent le CEP utile ou très utile / répondants de l'enquête à six mois, {window} derniers mois.", short="Utilité à 6 mois"),
    Indicator("median_delay_days", "Délai médian UO0 → niveau 1", "days", "lower",
              "Jours entre l'aiguillage et l'acte de niveau 1 (médiane, {window} derniers mois).", short="Délai UO0 → niveau 1"),
    Indicator("remote_share", "Part des actes à distance", "percent", "lower",
              "Actes par téléphone ou visioconférence / ensemble des actes, {window} derniers mois.", short="Actes à distance"),
    Indicator("complaints_per_1000", "Réclamations pour 1 000 bénéficiaires", "number", "lower",
              "Réclamations / bénéficiaires distincts du mois × 1 000, {window} derniers mois.", short="Réclamations pour 1 000"),
    Indicator("csf_nonconformity", "Non-conformité au contrôle de service fait", "percent", "lower",
              "Dossiers non conformes ou non justifiés / dossiers jugés, contrôles clôturés des douze "
              "derniers mois.", short="Non-conformité CSF"),
    Indicator("reporting_days_late", "Retard du reporting (jours)", "days", "lower",
              "Jours de retard du dernier reporting dû : à la date du jour s'il n'est pas déposé, "
              "sinon le retard de son premier dépôt.", short="Retard du reporting"),
    Indicator("abandonment_rate", "Abandons (niveau 2 non poursuivi)", "percent", "lower",
              "Actes de niveau 1 sans acte de niveau 2 dans les {level2_days} jours, cohortes mûres des "
              "{window} derniers mois."),
    Indicator("information_only_share", "Information seule (UO0 sans suite)", "percent", "lower",
              "Aiguillages sans acte de niveau 1 ou 2 dans les {info_days} jours, cohortes mûres des {window} derniers mois."),
    Indicator("implementation_start_share", "Parcours commençant par la mise en œuvre", "percent", "lower",
              "Entrées en niveau 2 directement par l'accompagnement à la mise en œuvre (sans "
              "construction du projet avant), {window} derniers mois."),
    Indicator("short_pathway_share", "Parcours courts", "percent", "lower",
              "Constructions de projet (UO2.1) facturées moins de {short_days} jours après le premier acte du "
              "parcours, {window} derniers mois."),
    Indicator("implementation_followup_share", "Accompagnement à la mise en œuvre", "percent", "higher",
              "Constructions de projet suivies d'un accompagnement à la mise en œuvre dans les {impl_days} "
              "jours, cohortes mûres des {window} derniers mois."),
    Indicator("diversity_index", "Diversité des publics", "percent", "higher",
              "Indice de Gini-Simpson normalisé (0 : un seul profil, 100 % : répartition uniforme), "
              "moyenne sur CSP, secteur et tranche d'âge des entrées des douze derniers mois."),
    Indicator("volume_up_quality_down", "Volume en hausse, qualité en baisse", "percent", "lower",
              "Plus petit de la hausse des entrées et de la baisse de la satisfaction (niveaux 1 et 2) "
              "entre les {window} derniers mois et les mêmes mois un an plus tôt : positif quand les "
              "deux vont ensemble."),
    Indicator("payment_delay_days", "Délai global de paiement (jours)", "days", "lower",
              "Fourni par le module de facturation lorsqu'il est disponible."),
)}
#: The indicators with the default terms' texts (screens of one lot use ``indicators_for``)
INDICATORS = indicators_for()


# --------------------------------------------------------------------------- helpers

def ratio(num, den):
    return num / den if den else None


def rate_reading(rows, num, den, what):
    n = sum(getattr(r, den) or 0 for r in rows)
    x = sum(getattr(r, num) or 0 for r in rows)
    if not n:
        return Reading(None, 0, f"aucun {what} sur la période")
    return Reading(x / n, n, f"{x} / {n} {what}")


def median_from_hist(hist):
    """Median of a {value: count} histogram (mean of the two middle values when even)."""
    items = sorted((int(k), int(v)) for k, v in hist.items() if v)
    total = sum(v for _, v in items)
    if not total:
        return None

    def nth(k):
        seen = 0
        for value, count in items:
            seen += count
            if seen > k:
                return value
        return items[-1][0]
    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


def merge_hist(rows, attr="delay_hist"):
    out = Counter()
    for r in rows:
        for k, v in (getattr(r, attr) or {}).items():
            out[k] += v
    return out


def gini_simpson(counts, categories=None):
    """Normalised Gini-Simpson diversity of a {category: count} mapping, in [0, 1]."""
    total = sum(counts.values())
    k = max(categories or 0, len(counts))
    if not total or k < 2:
        return None
    return (1 - sum((c / total) ** 2 for c in counts.values())) / (1 - 1 / k)


# --------------------------------------------------------------------------- targets

def profile_weights(profile):
    weights = [float(w) for w in profile] if profile and sum(profile) else [1.0] * 12
    total = sum(weights)
    return [w / total for w in weights]


def pro_rated_target(entries, profile, months):
    """Target of the first ``months`` months of the year (profile weights, flat by default)."""
    months = max(0, min(12, months))
    return entries * sum(profile_weights(profile)[:months])


def pacing(monthly_entries, target_entries, profile, months):
    """(cumulative entries, pro-rated target, achievement) over the first ``months`` months."""
    done = sum(monthly_entries[:months])
    target = pro_rated_target(target_entries, profile, months)
    return done, target, (done / target if target else None)


def forecast(monthly_entries, profile, months):
    """Entries expected by 31 December from the first ``months`` months of the year.

    Monthly entries are de-seasonalised by the profile (divided by weight × 12), a
    least-squares line is fitted through them (the mean when fewer than three months),
    projected on the remaining months and re-seasonalised; negative projections count 0.
    """
    months = max(0, min(12, months))
    if months == 0:
        return None
    weights = [w * 12 for w in profile_weights(profile)]
    xs = list(range(months))
    ys = [(monthly_entries[i] / weights[i]) if weights[i] else 0.0 for i in xs]
    if months < 3:
        slope, intercept = 0.0, sum(ys) / months
    else:
        mx = sum(xs) / months
        my = sum(ys) / months
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        intercept = my - slope * mx
    done = sum(monthly_entries[:months])
    projected = sum(max(0.0, intercept + slope * j) * weights[j] for j in range(months, 12))
    return done + projected


# --------------------------------------------------------------------------- per lot

def months_back(period, n):
    """The ``n`` periods ending at ``period`` (oldest first)."""
    year, month = int(period[:4]), int(period[5:7])
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out[::-1]


class LotView:
    """The indicators of one lot from its monthly aggregates (any objects with the
    :class:`~fc_market.steering.models.LotMonthStat` attributes)."""

    def __init__(self, lot, rows, reference, target=None, coverage_share=None, extra=None,
                 categories=None, window_months=WINDOW_MONTHS, validated_until=None):
        self.n = window_months
        self.lot = lot
        self.by_period = {r.period: r for r in rows}
        #: YYYY-MM the figures are read up to: the lot's own last validated month
        self.reference = reference
        #: The lot's last validated month, or None when it has none (no pacing then)
        self.validated_until = validated_until if validated_until is not None else (
            reference if any(getattr(r, "validated", True) and r.period <= reference
                             for r in rows) else None)
        self.target = target                # LotTarget of the reference year or None
        self.coverage_share = coverage_share
        self.extra = extra or {}            # indicator -> Reading from providers
        self.categories = categories or {}

    def window(self, n=None, end=None):
        periods = months_back(end or self.reference, n or self.n)
        return [self.by_period[p] for p in periods if p in self.by_period]

    def mature_window(self, attr, n=None):
        """The latest ``n`` months whose cohort counter ``attr`` is mature."""
        rows = [r for p, r in sorted(self.by_period.items())
                if p <= self.reference and getattr(r, attr) is not None]
        return rows[-(n or self.n):]

    def month(self, period):
        """The same indicators read on one month only."""
        return LotView(self.lot, self.by_period.values(), period, self.target, self.coverage_share,
                       {}, self.categories, window_months=1)

    # -- volume
    @property
    def year(self):
        return int(self.reference[:4])

    @property
    def months_elapsed(self):
        return int(self.reference[5:7])

    def monthly_entries(self, year=None):
        year = year or self.year
        return [getattr(self.by_period.get(f"{year:04d}-{m:02d}"), "entries", 0) or 0
                for m in range(1, 13)]

    def pacing(self):
        if self.target is None or self.validated_until is None:
            return None
        done, target, achievement = pacing(self.monthly_entries(), self.target.entries,
                                           self.target.monthly_profile, self.months_elapsed)
        return done, target, achievement

    def read(self, key):
        func = getattr(self, f"_{key}", None)
        if func is not None:
            return func()
        return self.extra.get(key, NONE)

    def _entries(self):
        rows = self.window()
        return Reading(float(sum(r.entries for r in rows)), None, "entrées de la période")

    def _entries_ytd(self):
        done = sum(self.monthly_entries()[:self.months_elapsed])
        return Reading(float(done), None, f"{done} entrées de janvier à {self.reference}")

    def _target_achievement(self):
        if self.validated_until is None:
            return Reading(None, None, "aucun mois validé")
        p = self.pacing()
        if p is None or p[2] is None:
            return Reading(None, None, "pas d'objectif pour l'année")
        done, target, ach = p
        return Reading(ach, None, f"{done} entrées pour un objectif proratisé de {target:.0f} "
                                  f"(janvier à {self.reference})")

    def forecast_entries(self):
        """Entries forecast for 31 December of the reference year, or None."""
        if self.target is None or not self.target.entries or self.validated_until is None:
            return None
        profile, _ = self.forecast_profile()
        return forecast(self.monthly_entries(), profile, self.months_elapsed)

    def _forecast_achievement(self):
        if self.validated_until is None:
            return Reading(None, None, "aucun mois validé")
        if self.target is None or not self.target.entries:
            return Reading(None, None, "pas d'objectif pour l'année")
        profile, basis = self.forecast_profile()
        fc = self.forecast_entries()
        if fc is None:
            return NONE
        return Reading(fc / self.target.entries, None,
                       f"{fc:.0f} entrées prévues pour un objectif de {self.target.entries} ({basis}, "
                       f"données jusqu'à {self.reference})")

    def forecast_profile(self):
        """Seasonality used by the forecast: the contract's monthly profile, else the monthly
        entries of the previous year when it is complete, else flat."""
        if self.target is not None and self.target.monthly_profile:
            return self.target.monthly_profile, "profil mensuel du contrat"
        last = self.monthly_entries(self.year - 1)
        if all(v > 0 for v in last):
            return last, f"saisonnalité de {self.year - 1}"
        return None, "profil uniforme"

    def _entries_per_1000(self):
        rows = self.window(12)
        population = (lot_population(self.lot) if getattr(self.lot, "region_code", None)
                      else getattr(self.lot, "population", None))
        if not rows or not population:
            return Reading(None, None, "population ou données manquantes")
        entries = sum(r.entries for r in rows)
        annual = entries * 12 / len(rows)
        return Reading(annual * 1000 / population, entries,
                       f"{entries} entrées sur {len(rows)} mois, {population} habitants")

    def _coverage_share(self):
        if self.coverage_share is None:
            return NONE
        return Reading(self.coverage_share, None, "sites qui comptent au contrat, ouverts ce jour")

    def _satisfaction_l1(self):
        return rate_reading(self.window(), "l1_satisfied", "l1_respondents", "répondants")

    def _satisfaction_l2(self):
        return rate_reading(self.window(), "l2_satisfied", "l2_respondents", "répondants")

    def _usefulness(self):
        return rate_reading(self.window(), "usefulness_useful", "usefulness_respondents", "répondants")

    def _median_delay_days(self):
        hist = merge_hist(self.window())
        n = sum(hist.values())
        return Reading(median_from_hist(hist), n, f"{n} passages au niveau 1 après aiguillage")

    def _remote_share(self):
        return rate_reading(self.window(), "remote_acts", "acts", "actes")

    def _complaints_per_1000(self):
        rows = self.window()
        bens = sum(r.beneficiaries for r in rows)
        complaints = sum(r.complaints for r in rows)
        if not bens:
            return Reading(None, 0, "aucun bénéficiaire")
        return Reading(complaints * 1000 / bens, bens, f"{complaints} réclamations, {bens} bénéficiaires")

    def _csf_nonconformity(self):
        if "csf_nonconformity" in self.extra:
            return self.extra["csf_nonconformity"]
        rows = self.window(12)
        judged = sum(r.csf_judged for r in rows)
        if not judged:
            return Reading(None, 0, "aucun contrôle clôturé sur douze mois")
        bad = sum(r.csf_nonconforming for r in rows)
        return Reading(bad / judged, judged, f"{bad} dossiers non conformes sur {judged} jugés")

    def _reporting_days_late(self):
        return self.extra.get("reporting_days_late", NONE)

    def _abandonment_rate(self):
        return rate_reading(self.mature_window("l1_cohort"), "l1_no_level2", "l1_cohort",
                            "actes de niveau 1")

    def _information_only_share(self):
        return rate_reading(self.mature_window("uo0_cohort"), "uo0_no_followup", "uo0_cohort",
                            "aiguillages")

    def _implementation_start_share(self):
        return rate_reading(self.window(), "l2_starts_implementation", "l2_starts",
                            "entrées en niveau 2")

    def _short_pathway_share(self):
        return rate_reading(self.window(), "project_short", "project_acts", "constructions de projet")

    def _implementation_followup_share(self):
        return rate_reading(self.mature_window("project_cohort"), "project_followed",
                            "project_cohort", "constructions de projet")

    def _diversity_index(self):
        rows = self.window(12)
        values, sample = [], 0
        for key in ("csp", "sector", "age_band"):
            counts = Counter()
            for r in rows:
                counts.update((r.profile or {}).get(key, {}))
            d = gini_simpson(counts, self.categories.get(key))
            if d is not None:
                values.append(d)
                sample = max(sample, sum(counts.values()))
        if not values:
            return Reading(None, 0, "profil des entrées non renseigné")
        return Reading(sum(values) / len(values), sample, f"{sample} entrées au profil renseigné")

    def _volume_up_quality_down(self):
        recent = self.window()
        year_before = f"{int(self.reference[:4]) - 1:04d}{self.reference[4:]}"
        previous = self.window(end=year_before)
        e1, e0 = sum(r.entries for r in recent), sum(r.entries for r in previous)
        n1 = sum(r.l1_respondents + r.l2_respondents for r in recent)
        n0 = sum(r.l1_respondents + r.l2_respondents for r in previous)
        if not e0 or not n1 or not n0:
            return Reading(None, min(n0, n1), "pas assez d'historique")
        s1 = sum(r.l1_satisfied + r.l2_satisfied for r in recent) / n1
        s0 = sum(r.l1_satisfied + r.l2_satisfied for r in previous) / n0
        growth = e1 / e0 - 1
        drop = s0 - s1
        return Reading(min(growth, drop), min(n0, n1),
                       f"entrées {growth:+.0%}, satisfaction {s0:.0%} → {s1:.0%}")

    def readings(self, keys=None):
        return {k: self.read(k) for k in (keys or INDICATORS)}


class NationalView(LotView):
    """The national figures: the volume indicators are sums of the lots' own figures, each
    lot read up to its own last validated month (never prorated to a month it has no data
    for); the other indicators pool the lots' months of the window ending at the market's
    latest validated month.  Each reading's detail says which months it sums."""

    def __init__(self, *args, lot_views=(), months="", **kwargs):
        super().__init__(*args, **kwargs)
        self.lot_views = list(lot_views)
        self.months = months

    def _sum_note(self):
        return f"somme des lots, chacun de janvier à son dernier mois validé : {self.months}"

    def _entries_ytd(self):
        done = sum(sum(v.monthly_entries()[:v.months_elapsed]) for v in self.lot_views
                   if v.validated_until is not None)
        return Reading(float(done), None, f"{done} entrées, {self._sum_note()}")

    def _paced(self):
        paced = [v.pacing() for v in self.lot_views]
        return [p for p in paced if p is not None and p[2] is not None]

    def pacing(self):
        """(Σ entries, Σ pro-rated targets, achievement) of the lots, each to its own month."""
        paced = self._paced()
        if not paced:
            return None
        done, target = sum(p[0] for p in paced), sum(p[1] for p in paced)
        return done, target, (done / target if target else None)

    def _target_achievement(self):
        p = self.pacing()
        if p is None:
            return Reading(None, None, "aucun lot validé avec un objectif")
        done, target, ach = p
        return Reading(ach, None, f"{done} entrées pour un objectif proratisé de {target:.0f} "
                                  f"({len(self._paced())} lots ; {self._sum_note()})")

    def _forecast_achievement(self):
        pairs = [(v.forecast_entries(), v.target.entries) for v in self.lot_views
                 if v.target is not None and v.target.entries]
        pairs = [(fc, t) for fc, t in pairs if fc is not None]
        if not pairs:
            return Reading(None, None, "aucun lot validé avec un objectif")
        fc, target = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        return Reading(fc / target, None, f"{fc:.0f} entrées prévues pour un objectif de {target} "
                                          f"({len(pairs)} lots ; {self._sum_note()})")

    def read(self, key):
        reading = super().read(key)
        if key in ("entries_ytd", "target_achievement", "forecast_achievement") or not reading.detail:
            return reading
        if key in INDICATORS and "{window}" in INDICATOR_TEMPLATES[key].definition:
            first = months_back(self.reference, self.n)[0]
            return Reading(reading.value, reading.sample,
                           f"{reading.detail} — mois de {first} à {self.reference} des lots validés")
        return reading


def breached(rule_comparison, value, threshold):
    threshold = float(threshold)
    return value < threshold if rule_comparison == "below" else value > threshold


def to_decimal(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return Decimal(str(round(float(value), 4)))
