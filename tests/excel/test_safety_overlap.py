"""check_xlsx with ``on_bounded`` (the worksheets' expat pass after the extent is proven, so
calamine can start meanwhile) gives exactly the answer without it: every test of
test_safety.py and test_safety_fast.py runs again here, each check done both ways and compared;
``on_bounded`` is called at most once, never for a file the sheets' extent refuses.  With
``exact=False`` too: the same answer, but the bound as the extent of the sheets it bounded."""
from dataclasses import replace

import pytest

from fc_market.excel import safety
from fc_market.excel.safety import WorkbookError

from . import test_safety as base
from . import test_safety_fast as base_fast
from .test_safety import *  # noqa: F401,F403 - the same tests, collected again here
from .test_safety import _clean_database  # noqa: F401 - no app, no database
from .test_safety_fast import (test_a_reporting_file_is_read_by_the_fast_path,  # noqa: F401
                               test_blocks_cut_inside_a_sheet, test_fast_path_matches_the_full_scan,
                               test_prefixed_and_undeclared_namespaces)

_plain = safety.check_xlsx
CALLS = []
BOUNDED = []  # sheets ``exact=False`` kept bounded


def _answer(source, **limits):
    try:
        return "ok", _plain(source, **limits), None
    except WorkbookError as exc:
        return "refused", (type(exc), exc.code, exc.message, exc.details), exc


def _same_but_the_bound(got, expected):
    """``exact=False``: the same answer, but a sheet the bound read keeps the bound as its
    extent, which holds the real one."""
    if got[0] != "ok" or expected[0] != "ok":
        return got[:2] == expected[:2]
    pairs = list(zip(got[1].sheets, expected[1].sheets))
    for bounded, sheet in pairs:
        if not bounded.exact:
            assert sheet.formula_count == 0 and bounded.formula_cells == ()
            assert bounded.min_row == bounded.min_col == 1 and sheet.max_row <= bounded.max_row \
                and sheet.max_col <= bounded.max_col
            BOUNDED.append(bounded.name)
    return len(got[1].sheets) == len(expected[1].sheets) and all(
        replace(bounded, exact=True, min_row=sheet.min_row, min_col=sheet.min_col,
                max_row=sheet.max_row, max_col=sheet.max_col) == sheet
        for bounded, sheet in pairs)


def _both_ways(source, **limits):
    bounded = []
    expected = _answer(source, **limits)
    got = _answer(source, on_bounded=bounded.append, **limits)
    assert got[:2] == expected[:2]
    assert _same_but_the_bound(_answer(source, on_bounded=lambda kinds: None, exact=False,
                                       **limits), expected)
    assert len(bounded) <= 1
    if bounded:
        assert set(bounded[0]) == set(sheet.name for sheet in (got[1].sheets if got[0] == "ok"
                                                               else ())) or got[0] == "refused"
    if got[0] == "refused" and got[1][1] == "sheet_too_large":
        assert not bounded  # the extent is proven before calamine may start
    CALLS.append((got[0], bool(bounded)))
    if got[2] is not None:
        raise got[2]
    return got[1]


@pytest.fixture(autouse=True)
def _overlapped(monkeypatch):
    monkeypatch.setattr(base, "check_xlsx", _both_ways)
    monkeypatch.setattr(base_fast, "check_xlsx", _both_ways)
    monkeypatch.setattr(safety, "check_xlsx", _both_ways)
    yield


def test_zz_both_ways_were_compared():
    """(runs last in this module) the tests above went through both ways, with and
    without calamine allowed to start"""
    assert len(CALLS) > 50
    assert ("ok", True) in CALLS and ("refused", True) in CALLS and ("refused", False) in CALLS
    assert len(BOUNDED) > 10  # and exact=False kept the bound of many
