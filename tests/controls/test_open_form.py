"""The "open a control" form: a list of month checkboxes where any subset may be ticked.
(Found by the browser journey: with DataRequired every checkbox carried ``required`` and the
browser refused to submit unless every month was ticked.)"""
import re

from tests.billing.helpers import make_validated


def test_month_checkboxes_are_not_all_required_and_none_is_refused(idf, users, login):
    for period in ("2025-01", "2025-02"):
        make_validated(idf, period, [("UO1", 3, 2)])
    from fc_market.extensions import db
    db.session.commit()
    manager = login("manager")
    page = manager.get("/lots/IDF/controles").get_data(as_text=True)
    boxes = re.findall(r'<input[^>]*name="periods"[^>]*>', page)
    assert len(boxes) == 2 and not any("required" in b for b in boxes), boxes
    response = manager.post("/lots/IDF/controles", data={})
    assert response.status_code == 302
    assert "Choisissez au moins un mois." in manager.get("/lots/IDF/controles").get_data(as_text=True)
    response = manager.post("/lots/IDF/controles", data={"periods": ["2025-02"], "seed": "x1"})
    assert response.status_code == 302 and "/controles/" in response.headers["Location"]
