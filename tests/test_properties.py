"""Property-based tests (hypothesis) on hostile and arbitrary input:

* the checked Excel reader, fed random bytes, truncated and corrupted workbooks, only ever
  raises its own French ``WorkbookError`` — never a crash from the zip, XML or calamine layers;
* the reporting import, fed truncated, corrupted and randomly filled workbooks, always answers
  with a result (never an exception), and a refused file changes no table but the import
  journal; an accepted one stores exactly its rows;
* payable statements computed and stored in the database: no float anywhere, lines add up to
  the totals, every amount in whole cents, on SQLite and PostgreSQL alike.

Example counts stay modest so the suite remains fast.
"""
import itertools
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fc_market.excel.reader import open_checked
from fc_market.excel.safety import WorkbookError
from fc_market.extensions import db

FIXTURES_OK = settings(max_examples=40, deadline=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture,
                                              HealthCheck.too_slow])


def _base_workbook():
    import openpyxl
    from io import BytesIO
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Paiements"
    ws.append(["Facture", "Date", "Montant", "Référence"])
    for i in range(30):
        ws.append([f"F-{i}", date(2025, 1, 1 + i % 28), Decimal(f"{i}.50"), f"R{i}"])
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


BASE = _base_workbook()


def read_all(data):
    with open_checked(data) as book:
        for sheet in book.info.sheets:
            for _ in book.raw_rows(sheet.name):
                pass


def corrupt(data, cuts, flips):
    """Truncate at a fraction and/or overwrite a few bytes."""
    out = bytearray(data)
    for position, value in flips:
        out[int(position * (len(out) - 1))] = value
    if cuts is not None:
        out = out[:int(cuts * len(out))]
    return bytes(out)


mutation = st.tuples(st.none() | st.floats(0, 1), st.lists(st.tuples(st.floats(0, 1),
                                                                     st.integers(0, 255)),
                                                           max_size=6))


@settings(max_examples=50, deadline=None)
@given(m=mutation)
def test_checked_reader_never_crashes_on_damaged_workbooks(m):
    data = corrupt(BASE, *m)
    try:
        read_all(data)
    except WorkbookError as exc:
        assert exc.message and exc.code  # a French message for the user, a code for the logs


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=2048), zip_head=st.booleans())
def test_checked_reader_never_crashes_on_random_bytes(data, zip_head):
    if zip_head:
        data = b"PK\x03\x04" + data
    with pytest.raises(WorkbookError):
        read_all(data)


# ------------------------------------------------------------------ reporting import

P = "2025-03"
printable = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
cell = st.one_of(st.none(), printable, st.integers(-10, 10**6),
                 st.dates(date(1990, 1, 1), date(2030, 12, 31)),
                 st.sampled_from(["UO1", "UO2.1", "UO9", "Présentiel", "S001", "=1+1", "@SUM(A1)",
                                  "+33 6 12 34 56 78", "Jean Dupont", "1 85 05 78 006 084"]))
random_row = st.lists(cell, min_size=0, max_size=12)


@pytest.fixture
def reporting_world(market, users):
    from tests.reporting.helpers import add_sites
    add_sites()
    return users


def _import(users, data):
    from fc_market.reporting import service
    from tests.reporting.helpers import lot
    return service.import_file(lot("IDF"), P, data, user=users["mandataire"], file_name="x.xlsx")


def _assert_all_or_nothing(result, before):
    from tests.reporting.helpers import table_counts
    db.session.expire_all()
    after = table_counts()
    if not result.accepted:
        assert result.errors and all(i.message for i in result.errors)
        assert after.pop("report_imports") == before.pop("report_imports") + 1
        assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    else:
        from fc_market.reporting.models import Act
        stored = db.session.scalar(sa.select(sa.func.count()).select_from(Act)
                                   .where(Act.version_id == result.version_id))
        assert stored == result.act_count


@FIXTURES_OK
@given(rows=st.lists(random_row, max_size=6), good=st.integers(0, 3))
def test_randomly_filled_reports_are_all_or_nothing(reporting_world, rows, good):
    from tests.reporting.helpers import make_file, row, table_counts
    data = make_file("IDF", P, [row(n) for n in range(good)] + rows)
    before = table_counts()
    result = _import(reporting_world, data)
    _assert_all_or_nothing(result, before)
    if result.accepted:  # blank-looking rows are skipped, nothing else is
        assert good <= result.act_count <= good + len(rows)
    else:  # every error names where it is, in French
        assert all(i.message for i in result.errors)


@pytest.fixture
def good_report(reporting_world):
    from tests.reporting.helpers import make_file, row
    return make_file("IDF", P, [row(n) for n in range(5)])


@FIXTURES_OK
@given(m=mutation)
def test_truncated_or_corrupted_reports_are_all_or_nothing(reporting_world, good_report, m):
    from tests.reporting.helpers import table_counts
    data = corrupt(good_report, *m)
    before = table_counts()
    result = _import(reporting_world, data)
    _assert_all_or_nothing(result, before)
    if data != good_report and m[0] is not None and m[0] < 0.99:
        assert not result.accepted


# ------------------------------------------------------------------ stored statements

def _walk_floats(value, path="snapshot"):
    if isinstance(value, float):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk_floats(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk_floats(v, f"{path}[{i}]")


acts_st = st.lists(st.tuples(st.sampled_from(["UO0", "UO1", "UO2.1", "UO2.2"]),
                             st.integers(1, 28), st.integers(0, 25)), max_size=5)


@FIXTURES_OK
@given(acts=acts_st, days_late=st.integers(0, 45))
def test_stored_statements_have_no_float_and_add_up(market, acts, days_late):
    """Statements computed from random validated months, read back from the database."""
    from fc_market.billing import service
    from fc_market.billing.models import PayableStatement, PayableStatementLine as StatementLine
    from fc_market.market.models import Lot
    from tests.billing.helpers import make_validated
    n = next(_slots)
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    the_lot = lots[(n // 24) % len(lots)]
    period = f"{2024 + (n % 24) // 12}-{n % 12 + 1:02d}"
    if service.statements_of(the_lot.id, period):
        return  # a replayed example: that month already has its statement
    make_validated(the_lot, period, acts, days_late=days_late)
    st_id = service.refresh_statement(the_lot, period).id
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(PayableStatement, st_id)
    lines = db.session.scalars(sa.select(StatementLine).where(StatementLine.statement_id == st_id)).all()
    cents = Decimal("0.01")
    money_columns = [c.key for c in PayableStatement.__table__.columns
                     if isinstance(c.type, sa.Numeric)]
    for name in money_columns:
        value = getattr(stored, name)
        assert value is None or isinstance(value, Decimal), (name, type(value))
    for name in ("subtotal", "vat", "total_excl_tax", "total_incl_tax", "amount_payable",
                 "penalties", "withholdings"):
        value = getattr(stored, name)
        assert value == value.quantize(cents), (name, value)
    for line in lines:
        for c in StatementLine.__table__.columns:
            if isinstance(c.type, sa.Numeric):
                assert isinstance(getattr(line, c.key), (Decimal, type(None))), c.key
    assert sum((l.amount for l in lines), Decimal("0.00")) == stored.subtotal
    assert stored.total_incl_tax == stored.total_excl_tax + stored.vat
    # each acts line: quantity × unit price rounded once to the cent (no revision before 2025)
    for line in lines:
        if line.kind == "acts" and stored.revision_coefficient == 1:
            exact = line.unit_price * line.quantity
            assert abs(line.amount - exact) <= Decimal("0.005")
    assert not list(_walk_floats(stored.snapshot or {}))


_slots = itertools.count()


# ------------------------------------------------------------------ rounding bounds (pure)

amounts = st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(yearly=amounts, months=st.integers(1, 12))
def test_lump_sum_shares_add_up_to_the_year_exactly(yearly, months):
    from fc_market.billing.calc import LumpSum, StatementInput, compute_statement
    shares = []
    for index in range(1, months + 1):
        s = compute_statement(StatementInput(lump_sum=LumpSum(yearly, index, months)))
        (line,) = s.lines
        shares.append(line.gross_amount)
    assert sum(shares, Decimal("0.00")) == yearly
    assert max(shares) - min(shares) <= Decimal("0.01")  # spread evenly, a cent at most apart


@settings(max_examples=50, deadline=None)
@given(groups=st.lists(st.tuples(st.sampled_from(["UO0", "UO1", "UO2.1"]),
                                 st.decimals(min_value=0, max_value=5000, places=4),
                                 st.integers(0, 3000)), max_size=5),
       rate=st.sampled_from([Decimal("0"), Decimal("0.055"), Decimal("0.10"), Decimal("0.20")]),
       rounding=st.sampled_from(["half_up", "half_even"]))
def test_each_amount_is_within_half_a_cent_of_the_exact_value(groups, rate, rounding):
    from fc_market.billing.calc import ActGroup, StatementInput, compute_statement
    s = compute_statement(StatementInput(act_groups=[ActGroup(*g) for g in groups], vat_rate=rate,
                                         rounding=rounding, vat_rounding=rounding))
    half = Decimal("0.005")
    for line in s.lines:
        assert abs(line.amount - line.unit_price * line.quantity) <= half
    assert abs(s.vat - s.total_excl_tax * rate) <= half
    # the rounding is done once per line and once on the VAT: the totals are exact sums
    assert s.subtotal == sum((l.amount for l in s.lines), Decimal("0.00"))
    assert s.total_incl_tax == s.total_excl_tax + s.vat
