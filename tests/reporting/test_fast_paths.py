"""The import's fast paths give exactly the full checks' result (speed lives in bench/)."""
import itertools
from datetime import date, datetime

from fc_market.reporting import dictionary as dd
from fc_market.reporting.checks import RowChecker, Rules
from tests.reporting.helpers import ben, lot

P = "2025-03"
TODAY = date(2025, 3, 20)

SAMPLES = ["DS-1", "DS-000123", "jeanne.martin@example.org", "06 12 34 56 78", "+33 6 12 34 56 78",
           "1 85 05 78 006 084 36", "2A 123", "185057800608436", "123456789", "12345678",
           "Mme Dupont", "M. Martin", "Monsieur Jean", "Jeanne Martin", "Jean Paul Martin",
           "Atelier qualité", "REF 2025-03", "M", "m. martin", "dossier ١٢٣٤٥٦٧٨٩", "", " ",
           "Réf. Pôle emploi 42", 12345678, 123456789.0, 3.5, True, None, "S001 — Point CEP"]


def test_personal_data_prefilter_changes_no_answer(monkeypatch):
    full = {}
    for value, reference in itertools.product(SAMPLES, (False, True)):
        full[(repr(value), reference)] = dd._personal_data_in(value, reference=reference)
    # without the pre-filter: every pattern is searched
    monkeypatch.setattr(dd, "_NINE_DIGITS", type("Always", (), {"search": lambda self, t: True})())
    for value, reference in itertools.product(SAMPLES, (False, True)):
        assert dd._personal_data_in(value, reference=reference) == full[(repr(value), reference)]
    assert full[("'DS-1'", True)] is None and full[("'Jeanne Martin'", True)]


VALUES = {
    "beneficiary_id": [ben(1), ben(2).upper(), " " + ben(3), "jean@example.org", None, 123, "abc"],
    "uo_code": ["UO1", "uo0", "UO2.1", "UO4", "UO9", None, " ", 1],
    "act_date": [date(2025, 3, 10), datetime(2025, 3, 1, 8), date(2025, 3, 25), date(2025, 2, 27),
                 date(2025, 1, 2), date(2025, 4, 2), "10/03/2025", "hier", 45726, None],
    "mode": ["Présentiel", "telephone", "Visio", None, "???"],
    "site_code": ["S001", "S003", "S002 — Point CEP IDF S002", "S090", "S999", None],
    "proof_ref": ["DS-1", None, "x" * 101, "jeanne.martin@example.org", "Jeanne Martin", 42],
    "sex": ["F", None, "Z"],
    "age_band": ["26-44", None],
    "csp": ["5 — Employés", "5", None],
    "employment_status": ["cdi", None, "06 12 34 56 78"],
    "sector": ["Q", None],
}


def rows():
    """Every value of each field at least once, combined in many ways (deterministic)."""
    fields = list(VALUES)
    base = {name: VALUES[name][0] for name in fields}
    yield dict(base)
    for name in fields:
        for value in VALUES[name]:
            yield {**base, name: value}
    for index, combo in enumerate(itertools.product(*(VALUES[n][:3] for n in fields))):
        if index % 97 == 0:
            yield dict(zip(fields, combo))


def test_row_checker_fast_path_gives_the_full_checks_result(idf):
    rules = Rules.load(lot("IDF"), P, TODAY)
    columns = {name: chr(65 + i) for i, name in enumerate(VALUES)}
    fast, slow = RowChecker(rules, track=False), RowChecker(rules, track=False)
    slow.fast = False
    answered = []
    silent = fast._fast
    fast._fast = lambda *args: answered.append(silent(*args)) or answered[-1]
    for number, values in enumerate(rows(), start=2):
        got = fast.check(number, dict(values), columns)
        assert got == slow.check(number, dict(values), columns), values
        assert fast.rows == slow.rows
    assert [i.as_dict() for i in fast.issues] == [i.as_dict() for i in slow.issues]
    assert (fast.error_count, fast.warning_count, fast.late_acts, dict(fast.counts)) == \
        (slow.error_count, slow.warning_count, slow.late_acts, dict(slow.counts))
    assert sum(a is not None for a in answered) > 10 and fast.error_count > 50
