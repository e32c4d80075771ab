"""UO4 fixtures: groupement members for lots IDF and BRE, filled templates, certified
payable statements with their UO4 twelfth."""
from datetime import datetime
from decimal import Decimal
from io import BytesIO

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from fc_market.demo.pdf import minimal_pdf
from fc_market.extensions import db
from fc_market.market.models import Lot, Operator, OperatorMember

#: Valid SIRET numbers (Luhn) for the test members
SIRETS = {"IDF": ("73282932000074", "52601815590833"), "BRE": ("55208131766522", "44306184100047")}
PDF = minimal_pdf("Justificatif de test UO4")


def lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


@pytest.fixture
def groupements(users):
    """Lot IDF: mandataire « Atlas Conseil » and co-contractor « Boréal Formation »; BRE too."""
    out = {}
    for code, (first, second) in SIRETS.items():
        operator = Operator(lot_id=lot(code).id, name=f"Groupement {code}", kind="groupement")
        db.session.add(operator)
        db.session.flush()
        a = OperatorMember(operator_id=operator.id, legal_name=f"Atlas Conseil {code}",
                           siret=first, role="mandataire")
        b = OperatorMember(operator_id=operator.id, legal_name=f"Boréal Formation {code}",
                           siret=second, role="cotraitant")
        db.session.add_all([a, b])
        db.session.flush()
        out[code] = (a, b)
    db.session.commit()
    return out


def filled(lot_obj, year, kind, rows, *, edit=None):
    """The lot's template with ``rows`` (tuples of cell values) written under the header of
    the lines sheet; ``edit(workbook)`` may alter it further."""
    from fc_market.uo4.workbook import LINES_SHEET, build_template
    from fc_market.uo4.models import FilingKind
    wb = load_workbook(BytesIO(build_template(lot_obj, year, kind)))
    ws = wb[LINES_SHEET[FilingKind(kind)]]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            ws.cell(row=r, column=c, value=value)
    if edit:
        edit(wb)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def certify_twelfths(lot_obj, year, months, monthly, certified=True):
    """Certified payable statements for ``months`` of ``year``, each with a UO4 line of
    ``monthly`` euros (and an acts line that must not count); ``certified=False``: open ones."""
    from fc_market.billing.models import PayableStatement, PayableStatementLine
    made = []
    for m in months:
        st = PayableStatement(lot_id=lot_obj.id, period=f"{year}-{m:02d}", rank=0, status="open")
        st.lines.append(PayableStatementLine(position=1, kind="acts", uo_code="UO1", label="UO1",
                                             quantity=10, unit_price=Decimal("150"),
                                             gross_amount=Decimal("1500"),
                                             revision_adjustment=Decimal("0"),
                                             amount=Decimal("1500.00")))
        st.lines.append(PayableStatementLine(position=2, kind="lump_sum", uo_code="UO4",
                                             label="UO4", quantity=1, unit_price=Decimal(monthly),
                                             gross_amount=Decimal(monthly),
                                             revision_adjustment=Decimal("0"),
                                             amount=Decimal(monthly)))
        db.session.add(st)
        made.append((m, st))
    db.session.flush()
    if certified:  # certified once complete: a certified statement's lines are frozen
        for m, st in made:
            st.status, st.number = "certified", f"EL-{lot_obj.code}-{year}{m:02d}"
            st.certified_at = datetime(year, m, 28)
    db.session.flush()
