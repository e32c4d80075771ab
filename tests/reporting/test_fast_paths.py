"""The import's fast paths give exactly the full checks' result (speed lives in bench/)."""
import itertools
from datetime import date, datetime

from fc_market.reporting import dictionary as dd
from fc_market.reporting.checks import ACT_FIELDS, RowChecker, Rules
from tests.reporting.helpers import ben, by_column, lot

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


def test_plain_reference_is_the_pre_filter(monkeypatch):
    """`plain_reference` says True only for a text `_personal_data_in` clears by its
    pre-filter: then its answer is None."""
    texts = [s for s in SAMPLES if isinstance(s, str)] + [
        "DS-000123", "ds m", "x@y", "A\tB", "12345678", "1-2-3-4-5-6-7-8-9", "  DS-1  ", "Mé",
        "réf\u00a02", "١٢٣٤٥٦٧٨٩"]
    for text in texts:
        if dd.plain_reference(text):
            assert dd._personal_data_in(text, reference=True) is None, text
    assert dd.plain_reference("DS-000123") and not dd.plain_reference("Jeanne Martin")
    assert not dd.plain_reference("06 12 34 56 78") and not dd.plain_reference("M. X")


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


def test_check_columns_gives_the_full_checks_result(idf):
    """By chunks of any size, by column: the same acts, issues and counts as the full checks
    row by row (a formula's row kept out, nothing more said about its cell)."""
    rules = Rules.load(lot("IDF"), P, TODAY)
    letters = {name: chr(65 + i) for i, name in enumerate(VALUES)}
    records = list(rows())
    formulas = {5: {"B"}, 40: {"E", "F"}}
    for size in (1, 7, 64, len(records)):
        by_columns, by_rows = RowChecker(rules, track=False), RowChecker(rules, track=False)
        full = []
        checked = by_columns.check
        by_columns.check = lambda *args: full.append(args[0]) or checked(*args)
        got, expected = [], []
        for first in range(0, len(records), size):
            part = records[first:first + size]
            numbers = list(range(first + 2, first + 2 + len(part)))
            acts = by_columns.check_columns(
                numbers, {name: [r[name] for r in part] for name in VALUES}, letters, formulas)
            assert list(acts) == list(ACT_FIELDS)
            got.extend(dict(zip(ACT_FIELDS, act)) for act in zip(*acts.values()))
            for number, record in zip(numbers, part):
                start = len(by_rows.issues)
                act = by_rows.check(number, dict(record), letters)
                if number in formulas:
                    by_rows.drop_issues(start, lambda i: i.column in formulas[number])
                    act = None
                if act is not None:
                    expected.append(act)
        assert got == expected
        assert [i.as_dict() for i in by_columns.issues] == [i.as_dict() for i in by_rows.issues]
        assert (by_columns.error_count, by_columns.warning_count, by_columns.late_acts,
                by_columns.rows, dict(by_columns.counts)) == \
            (by_rows.error_count, by_rows.warning_count, by_rows.late_acts, by_rows.rows,
             dict(by_rows.counts))
        # most rows say something; those that do not were accepted without the full checks
        silent = len(records) - len(full)
        assert silent > 10 and len(expected) > silent and by_rows.error_count > 50
        assert 5 in full and 40 in full


def test_check_columns_tells_equal_values_of_other_types_apart(idf):
    """1, 1.0 and True are equal in Python: a column mixing them is resolved value by value
    (True is no profile code, 1 and 1.0 are)."""
    rules = Rules.load(lot("IDF"), P, TODAY)
    letters = {name: chr(65 + i) for i, name in enumerate(VALUES)}
    base = {name: VALUES[name][0] for name in VALUES}
    records = [{**base, "csp": value} for value in (1, 1.0, True, "1", 1, True)]
    by_columns, by_rows = RowChecker(rules, track=False), RowChecker(rules, track=False)
    acts = by_columns.check_columns(list(range(2, 8)), {
        name: [r[name] for r in records] for name in VALUES}, letters)
    expected = [by_rows.check(n, dict(r), letters) for n, r in enumerate(records, start=2)]
    assert [dict(zip(ACT_FIELDS, a)) for a in zip(*acts.values())] == \
        [a for a in expected if a is not None]
    assert [i.as_dict() for i in by_columns.issues] == [i.as_dict() for i in by_rows.issues]
    assert len(by_rows.issues) == 2 and acts["source_row"] == [2, 3, 5, 6]


def test_duplicates_found_per_chunk_are_those_of_the_whole_version(idf, users, monkeypatch):
    """Each chunk of beneficiaries finds its own duplicates: the same ones (row, first row)
    as one window-function pass over the version, which the import used to run."""
    import sqlalchemy as sa

    from fc_market.extensions import db
    from fc_market.reporting import checks, service
    from fc_market.reporting.models import Act
    from tests.reporting.helpers import make_file, row

    monkeypatch.setattr(checks, "HISTORY_CHUNK", 3)
    rows = [row(n % 7, day=date(2025, 3, 1 + n % 4), proof=f"DS-{n}") for n in range(40)]
    seen = {}
    old_check_stored = RowChecker.check_stored

    def spy(self, version_id, report_id):
        table = Act.__table__
        where = sa.func.coalesce(table.c.source_row, -table.c.id)
        key = (table.c.beneficiary_id, table.c.uo_id, table.c.act_date)
        ranked = (sa.select(where.label("row"),
                            sa.func.first_value(where).over(partition_by=key, order_by=table.c.id)
                            .label("first"),
                            sa.func.row_number().over(partition_by=key, order_by=table.c.id)
                            .label("n"))
                  .where(table.c.version_id == version_id).subquery())
        seen["old"] = [tuple(r) for r in db.session.execute(
            sa.select(ranked.c.row, ranked.c.first).where(ranked.c.n > 1).order_by(ranked.c.row))]
        return old_check_stored(self, version_id, report_id)

    monkeypatch.setattr(RowChecker, "check_stored", spy)
    result = service.import_file(lot("IDF"), P, make_file("IDF", P, rows), user=users["mandataire"],
                                 file_name="f.xlsx", today=TODAY)
    found = sorted((i.row, int(i.message.rsplit("ligne ", 1)[1].rstrip(".")))
                   for i in result.errors if i.code == "duplicate")
    assert len(seen["old"]) > 10 and found == seen["old"]


def test_compacting_the_issues_keeps_what_sorting_them_all_would(idf, monkeypatch):
    import random

    from fc_market.reporting import checks
    from fc_market.reporting.checks import sort_issues

    monkeypatch.setattr(checks, "MAX_STORED_ISSUES", 7)
    rules = Rules.load(lot("IDF"), P, TODAY)
    compacted, whole = RowChecker(rules, track=False), RowChecker(rules, track=False)
    compacted.compact_at, compacted.compact_slack, whole.compact_at = 12, 3, 10 ** 9
    sorts = []
    original_sort = checks.sort_issues
    monkeypatch.setattr(checks, "sort_issues", lambda issues: sorts.append(1) or original_sort(issues))
    rng = random.Random(16)
    for n in range(300):
        severity = rng.choice(["error", "warning"])
        args = (rng.choice(["a", "b"]), f"message {n}", rng.randint(1, 9), rng.choice([None, "C"]))
        for checker in (compacted, whole):
            checker.add(severity, *args)
            checker.compact()
    assert len(compacted.issues) <= 2 * 7 + 3  # bounded
    assert 10 < len(sorts) / 2 < 100  # compacted again and again, never on every issue
    for kind in ("errors", "warnings"):
        assert sort_issues(getattr(compacted, kind))[:7] == sort_issues(getattr(whole, kind))[:7]
    assert (compacted.error_count, compacted.warning_count) == (whole.error_count,
                                                                whole.warning_count)


def test_dates_read_raw_are_the_dates_sqlalchemy_reads(idf):
    from sqlalchemy.dialects import sqlite

    from fc_market.reporting.checks import _as_date

    process = sqlite.DATE().result_processor(sqlite.dialect(), None)
    for text in ("2025-03-01", "2024-02-29", "1999-12-31"):
        assert _as_date(text) == process(text)
    assert _as_date(date(2025, 3, 2)) == date(2025, 3, 2) and _as_date(None) is None


class _Text(str):
    """A str subclass: searched for personal data like any text."""


def test_postgresql_copies_the_acts_the_insert_would_store_and_still_refuses_frozen(idf, users):
    """PostgreSQL: a batch goes in by COPY on the unit of work's connection; the rows stored
    are those the plain INSERT stores (every column), and acts of a submitted version are
    still refused by the guard trigger, raised as SQLAlchemy's IntegrityError."""
    import pytest
    import sqlalchemy as sa

    from fc_market.extensions import db
    from fc_market.reporting import service
    from fc_market.reporting.models import Act, Report, ReportVersion, VersionStatus
    from tests.billing.helpers import move

    if db.engine.dialect.name != "postgresql":
        pytest.skip("COPY is the PostgreSQL path")
    rules = Rules.load(lot("IDF"), P, TODAY)
    checker = RowChecker(rules, track=False)
    columns = {name: chr(65 + i) for i, name in enumerate(VALUES)}
    batch = [act for act in (checker.check(n, dict(v), columns) for n, v in enumerate(rows(), 2))
             if act is not None]
    assert len(batch) > 10
    idf_lot = lot("IDF")
    report = Report(lot_id=idf_lot.id, period="2024-11", period_start=date(2024, 11, 1),
                    due_on=date(2024, 12, 10))
    db.session.add(report)
    db.session.flush()
    copied, inserted = (ReportVersion(report_id=report.id, lot_id=idf_lot.id, number=n,
                                      status=VersionStatus.DRAFT) for n in (1, 2))
    db.session.add_all([copied, inserted])
    db.session.flush()
    writer = service.ActWriter(copied, idf_lot.id)
    writer.write_columns(by_column([dict(a) for a in batch]))
    writer.close()
    db.session.execute(Act.__table__.insert(), [{**a, "version_id": inserted.id, "lot_id": idf_lot.id}
                                                for a in batch])
    compared = [c for c in Act.__table__.c if c.name not in ("id", "version_id")]

    def stored(version):
        return db.session.execute(sa.select(*compared).where(Act.version_id == version.id)
                                  .order_by(Act.id)).all()
    assert stored(copied) == stored(inserted) and len(stored(copied)) == len(batch)
    copied.submitted_at = datetime(2024, 12, 5)
    move(copied, VersionStatus.SUBMITTED)
    with pytest.raises(sa.exc.IntegrityError, match="document figé"):
        with db.session.begin_nested():
            writer = service.ActWriter(copied, idf_lot.id)
            writer.write_columns(by_column([dict(a) for a in batch[:2]]))
            writer.close()
