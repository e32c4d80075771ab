"""The rules across rows (window, sequence, double financing) give, on any acts and history,
the issues and findings of their previous, plainer writing (kept below as the oracle): the
faster one (issue 16) sorts plain tuples, reads each UO's terms once and skips the window
rule for a beneficiary with no UO twice."""
from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fc_market.market.dates import add_months
from fc_market.reporting.checks import RowChecker, Rules, fr_day
from tests.reporting.helpers import ben as beneficiary, lot

P = "2025-03"
TODAY = date(2025, 3, 20)


# -- the oracle: the rules as written before issue 16 --------------------------------------

def across(self, acts, history, beneficiaries):
    """``acts``: (beneficiary, uo_id, act_date, row) of the version checked;
    ``history``: the same beneficiaries' acts elsewhere (:func:`load_history`)."""
    rules = self.rules
    by_id = rules.uos_by_id
    own = defaultdict(list)      # beneficiary -> [(date, uo_id, row or None)]
    others = defaultdict(list)   # beneficiary -> [(date, uo_id, lot_id, version_id)]
    for ben, lot_id, uo_id, act_date, version_id in history:
        if lot_id == rules.lot_id:
            own[ben].append((act_date, uo_id, None))
        else:
            others[ben].append((act_date, uo_id, lot_id, version_id))
    for ben, uo_id, act_date, row in acts:
        own[ben].append((act_date, uo_id, row))
    findings = []
    for ben in beneficiaries:
        events = own[ben]
        events.sort(key=lambda e: (e[0], e[2] or 0))
        window_rule(self, events, by_id)
        sequence_warnings(self, events, by_id)
        if ben in others:
            findings.extend(cross_lot(self, ben, events, others[ben], by_id))
    return findings

def window_rule(self, events, by_id):
    per_uo = defaultdict(list)
    for act_date, uo_id, row in events:
        per_uo[uo_id].append((act_date, row))
    for uo_id, items in per_uo.items():
        uo = by_id[uo_id]
        if not uo.max_per_beneficiary or not uo.window_months or len(items) <= uo.max_per_beneficiary:
            continue
        flagged = set()
        start = 0
        for end in range(len(items)):
            while add_months(items[start][0], uo.window_months) <= items[end][0]:
                start += 1
            window = items[start:end + 1]
            if len(window) <= uo.max_per_beneficiary:
                continue
            file_rows = [row for _, row in window if row is not None]
            if not file_rows:
                continue
            first_date, first_row = window[0]
            targets = [r for r in file_rows if r != first_row] or file_rows
            for target in targets:
                if target in flagged:
                    continue
                flagged.add(target)
                previous = next(((d, r) for d, r in window if r != target), window[0])
                where = (f"ligne {previous[1]}" if previous[1] and previous[1] > 0
                         else "acte déjà déclaré")
                self.error("window", f"{uo.code} déjà facturé pour ce bénéficiaire le "
                           f"{fr_day(previous[0])} ({where}) : le contrat l'admet "
                           f"{uo.max_per_beneficiary} fois par période de "
                           f"{uo.window_months} mois.", target, None, None)

def sequence_warnings(self, events, by_id):
    rules = self.rules
    for act_date, uo_id, row in events:
        if row is None:
            continue
        uo = by_id[uo_id]
        if uo.expects_prior_code:
            prior = rules.uos.get(uo.expects_prior_code)
            if prior is not None and not any(u == prior.id and d <= act_date
                                             for d, u, _ in events):
                self.warning("expects_prior", f"{uo.code} sans {prior.code} préalable pour ce "
                             "bénéficiaire (ni dans ce fichier ni dans les mois déclarés).",
                             row, None, None)
        if uo.level == 1:
            limit = add_months(act_date, -uo.window_months) if uo.window_months else date.min
            later = [d for d, u, _ in events
                     if by_id[u].level == 2 and limit < d < act_date]
            if later:
                self.warning("level1_after_level2", "Niveau 1 déclaré après un niveau 2 "
                             f"pour le même bénéficiaire (niveau 2 le {fr_day(later[0])}).",
                             row, None, None)

def cross_lot(self, ben, events, other_events, by_id):
    found = {}
    for act_date, uo_id, row in events:
        if row is None:
            continue
        uo = by_id[uo_id]
        if not uo.level or uo.level < 1 or not uo.window_months:
            continue
        for other_date, other_uo_id, lot_id, version_id in other_events:
            other = by_id.get(other_uo_id)
            if other is None or other.level != uo.level:
                continue
            window = max(uo.window_months, other.window_months or 0)
            if other_date < add_months(act_date, window) and act_date < add_months(other_date, window):
                key = (lot_id, uo.level)
                gap = abs((other_date - act_date).days)
                if key not in found or gap < found[key]["gap"]:
                    found[key] = {"beneficiary_id": ben, "level": uo.level, "uo_code": uo.code,
                                  "act_date": act_date, "row": row, "other_lot_id": lot_id,
                                  "other_version_id": version_id, "other_uo_code": other.code,
                                  "other_act_date": other_date, "window_months": window,
                                  "gap": gap}
    return list(found.values())



# -- the comparison ------------------------------------------------------------------------

DAYS = [date(2023, 1, 1) + timedelta(days=n) for n in range(0, 900, 7)]


def _case(draw_rows, rules, other_lot_id):
    """acts (beneficiary, uo_id, date, row) and history (beneficiary, lot_id, uo_id, date,
    version_id) drawn over a few beneficiaries, UOs, days and rows (file rows, the web
    form's 0 and -id)."""
    acts, history = draw_rows
    uo_ids = sorted(uo.id for uo in rules.uos.values())
    return ([(beneficiary(b), uo_ids[u % len(uo_ids)], DAYS[d % len(DAYS)], r) for b, u, d, r in acts],
            [(beneficiary(b), rules.lot_id if mine else other_lot_id, uo_ids[u % len(uo_ids)],
              DAYS[d % len(DAYS)], 100 + v) for b, mine, u, d, v in history])


ROWS = st.tuples(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 9), st.integers(0, 200),
                       st.sampled_from([0, -7, -3, 2, 3, 4, 5, 9, 10, 11, 40])),
             max_size=25, unique_by=lambda a: a[3] if a[3] else None),
    st.lists(st.tuples(st.integers(0, 4), st.booleans(), st.integers(0, 9), st.integers(0, 200),
                       st.integers(0, 5)), max_size=25))


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ROWS)
# the web form's act (row 0) and another version's act of the same UO: the window rule names
# the other one (found on PostgreSQL's run, when the history's row was 0 like the form's)
@example(([(0, 0, 0, 0)], [(0, True, 0, 1, 0)]))
@example(([(0, 0, 1, 0), (0, 0, 0, 5)], [(0, True, 0, 1, 0), (0, False, 0, 2, 1)]))
def test_rules_across_rows_give_the_previous_answers(idf, rows):
    rules = Rules.load(lot("IDF"), P, TODAY)
    acts, history = _case(rows, rules, lot("BRE").id)
    beneficiaries = sorted({a[0] for a in acts})
    new, reference = RowChecker(rules), RowChecker(rules)
    found = new._across(list(acts), list(history), beneficiaries)
    expected = across(reference, list(acts), list(history), beneficiaries)
    assert [i.as_dict() for i in new.issues] == [i.as_dict() for i in reference.issues]
    assert found == expected


def test_the_oracle_and_the_rules_do_say_something(idf):
    """The comparison is not between two silences: on a hand-made case both find a window
    breach, a missing prior act, a level 1 after a level 2 and a double financing."""
    rules = Rules.load(lot("IDF"), P, TODAY)
    uos = rules.uos
    bre = lot("BRE").id
    level1 = next(u for u in uos.values() if u.level == 1 and u.window_months)
    level2 = next(u for u in uos.values() if u.level == 2)
    prior = next(u for u in uos.values() if u.expects_prior_code)
    acts = [(beneficiary(1), level1.id, date(2025, 3, 3), 2), (beneficiary(1), level1.id, date(2025, 3, 4), 3),
            (beneficiary(2), prior.id, date(2025, 3, 5), 4),
            (beneficiary(3), level1.id, date(2025, 3, 20), 5)]
    history = [(beneficiary(3), rules.lot_id, level2.id, date(2025, 3, 1), 100),
               (beneficiary(1), bre, level1.id, date(2025, 2, 1), 101)]
    new = RowChecker(rules)
    findings = new._across(acts, history, sorted({a[0] for a in acts}))
    codes = {i.code for i in new.issues}
    assert {"expects_prior", "level1_after_level2"} <= codes
    assert ("window" in codes) == bool(level1.max_per_beneficiary and level1.max_per_beneficiary < 2)
    assert findings and findings[0]["other_lot_id"] == bre
    reference = RowChecker(rules)
    assert across(reference, acts, history, sorted({a[0] for a in acts})) == findings
    assert [i.as_dict() for i in reference.issues] == [i.as_dict() for i in new.issues]
