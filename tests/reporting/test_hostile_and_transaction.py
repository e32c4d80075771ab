"""Hostile or broken files are refused through the safety module, and a refused file leaves
every table exactly as it was."""
import io
import zipfile
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.reporting import service
from fc_market.reporting.models import Act, LotFigures, ReportVersion
from tests.reporting.helpers import make_file, row, table_counts

P = "2025-03"


def rewrite(data, add=None, replace=None):
    """Copy an xlsx, replacing or adding members."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if replace and info.filename in replace:
                content = replace[info.filename](content)
            dst.writestr(info.filename, content)
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def good():
    return make_file("IDF", P, [row(1), row(2)])


def hostile_files():
    return {
        "csv": (lambda: "Identifiant;UO\nabc;UO1\n".encode(), "workbook_not_xlsx"),
        "xls": (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "workbook_legacy_xls"),
        "truncated": (lambda: good()[:3000], "workbook_corrupt"),
        "zip_bomb": (lambda: rewrite(good(), add={"xl/media/padding.bin": b"\x00" * (30 * 1024 * 1024)}),
                     "workbook_zip_bomb"),
        "external_link": (lambda: rewrite(good(), add={
            "xl/externalLinks/externalLink1.xml": b'<?xml version="1.0"?><externalLink/>'}),
            "workbook_external_link"),
        "macro": (lambda: rewrite(good(), add={"xl/vbaProject.bin": b"\x00" * 64}), "workbook_macro"),
        "xxe": (lambda: rewrite(good(), replace={"xl/workbook.xml": lambda c: (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + c)}), "workbook_doctype"),
    }


@pytest.mark.parametrize("kind", list(hostile_files()))
def test_hostile_files_are_refused_and_nothing_is_written(idf, users, kind):
    build, code = hostile_files()[kind]
    before = table_counts()
    result = service.import_file(idf, P, build(), user=users["mandataire"], file_name=f"{kind}.xlsx")
    assert not result.accepted
    assert [i.code for i in result.errors] == [code], result.as_json()
    assert result.errors[0].message
    after = table_counts()
    assert after.pop("report_imports") == before.pop("report_imports") + 1
    assert after == before


def test_huge_dimensions_are_refused(idf, users):
    wb = openpyxl.load_workbook(io.BytesIO(good()))
    wb["Actes"].cell(row=250_000, column=1, value="x")
    out = io.BytesIO()
    wb.save(out)
    result = service.import_file(idf, P, out.getvalue(), user=users["mandataire"])
    assert [i.code for i in result.errors] == ["workbook_sheet_too_large"]
    assert "250" in result.errors[0].message


def test_formulas_where_values_are_expected(idf, users):
    wb = openpyxl.load_workbook(io.BytesIO(good()))
    wb["Actes"]["F3"] = '="DS-"&2'
    out = io.BytesIO()
    wb.save(out)
    result = service.import_file(idf, P, out.getvalue(), user=users["mandataire"])
    assert not result.accepted
    issue = result.errors[0]
    assert (issue.code, issue.sheet, issue.row, issue.column) == ("formula", "Actes", 3, "F")


def test_a_refused_file_leaves_every_table_as_it_was(idf, users):
    # an existing draft with content, which a refused file must not touch
    first = service.import_file(idf, P, make_file("IDF", P, [row(1), row(2), row(3)]),
                                user=users["mandataire"])
    assert first.accepted
    db.session.commit()  # the first upload's unit of work
    before = table_counts()
    draft_acts = db.session.scalars(sa.select(Act.beneficiary_id).where(
        Act.version_id == first.version_id).order_by(Act.id)).all()
    # 20 good rows then a bad one: the good rows were streamed into the transaction
    rows = [row(n, day=date(2025, 3, 1 + n % 28)) for n in range(10, 30)] + [row(99, uo="UO9")]
    result = service.import_file(idf, P, make_file("IDF", P, rows), user=users["mandataire"])
    assert not result.accepted and result.error_count == 1
    db.session.expire_all()
    after = table_counts()
    assert after.pop("report_imports") == before.pop("report_imports") + 1
    assert after == before
    assert db.session.scalars(sa.select(Act.beneficiary_id).where(
        Act.version_id == first.version_id).order_by(Act.id)).all() == draft_acts
    figures = db.session.scalar(sa.select(LotFigures).where(LotFigures.version_id == first.version_id))
    assert figures is not None
    version = db.session.get(ReportVersion, first.version_id)
    assert version.act_count == 3 and version.status == "draft"


def test_refused_submission_in_the_same_import_writes_nothing(idf, users):
    before = table_counts()
    data = make_file("IDF", P, [row(1)], template=False)  # no figures sheet: cannot be submitted
    result = service.import_file(idf, P, data, user=users["mandataire"], submit=True)
    assert not result.accepted and result.errors[0].code == "refused"
    assert "Indicateurs du lot" in result.errors[0].message
    after = table_counts()
    assert after.pop("report_imports") == before.pop("report_imports") + 1
    assert after == before
