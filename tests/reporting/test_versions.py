"""Version life cycle, history, decisions, concurrent reviewers, days late, events."""
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from fc_market import events
from fc_market.extensions import db
from fc_market.notifications.models import Notification
from fc_market.reporting import service
from fc_market.reporting.models import Act, ReportVersion
from tests.reporting.helpers import make_file, row

P = "2025-03"


@pytest.fixture
def captured():
    seen = []

    def on_validated(version):
        seen.append(("validated", version.id, version.status))

    def on_superseded(version):
        seen.append(("superseded", version.id, version.status))
    events.subscribe("report.validated", on_validated)
    events.subscribe("report.superseded", on_superseded)
    yield seen
    events.unsubscribe("report.validated", on_validated)
    events.unsubscribe("report.superseded", on_superseded)


def submit_file(lot, rows, user, today=date(2025, 4, 8)):
    result = service.import_file(lot, P, make_file(lot.code, P, rows), user=user, submit=True,
                                 today=today)
    assert result.accepted, result.as_json()
    db.session.commit()  # as the unit of work of the upload would
    return db.session.get(ReportVersion, result.version_id)


def test_full_cycle_with_rejection_correction_and_supersession(idf, users, captured):
    mandataire, manager = users["mandataire"], users["manager"]
    v1 = submit_file(idf, [row(1), row(2)], mandataire)
    assert v1.status == "submitted" and v1.days_late == 0 and v1.submitted_by_id == mandataire.id
    with pytest.raises(service.ReportingError, match="motivé"):
        service.decide(v1, manager, "reject", "  ", v1.version_counter)
    service.decide(v1, manager, "reject", "Justificatif manquant ligne 3", v1.version_counter)
    db.session.commit()
    assert v1.status == "rejected" and v1.decided_by_id == manager.id
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "reporting.rejected"))
    assert note.audience == "mandataire" and "Justificatif manquant" in note.body

    # web correction starting from the rejected version
    report = v1.report
    v2 = service.new_correction(report, mandataire)
    db.session.commit()
    assert v2.number == 2 and v2.supersedes_id == v1.id and v2.act_count == 2
    assert v2.figures is not None and v2.figures.l1_respondents == 40
    acts = db.session.scalars(sa.select(Act).where(Act.version_id == v2.id)).all()
    service.delete_act(v2, acts[0], mandataire)
    problems = service.add_act(v2, {"beneficiary_id": row(3)[0], "uo_code": "UO1",
                                    "act_date": date(2025, 3, 12), "mode": "telephone",
                                    "proof_ref": "DS-9", "sex": "M", "age_band": "45-54", "csp": "3",
                                    "employment_status": "cdd", "sector": "C"}, mandataire)
    assert problems == []
    checker = service.submit(v2, mandataire, today=date(2025, 4, 15))
    db.session.commit()
    assert checker.error_count == 0
    assert v2.status == "submitted" and v2.days_late == 5 and v1.status == "superseded"
    # the first submission was on time: that is what the penalty reads
    assert service.first_submitted(report).id == v1.id and v1.days_late == 0
    service.decide(v2, manager, "validate", None, v2.version_counter)
    db.session.commit()
    assert captured == [("validated", v2.id, "validated")]

    # a correction of a validated version: the validated one stays in force until the new one
    v3 = service.new_correction(report, mandataire)
    service.submit(v3, mandataire, today=date(2025, 5, 2))
    db.session.commit()
    assert v2.status == "validated" and service.in_force(report).id == v3.id
    service.decide(v3, manager, "validate", "ok", v3.version_counter)
    db.session.commit()
    assert v2.status == "superseded" and v3.status == "validated"
    assert captured[-2:] == [("superseded", v2.id, "superseded"), ("validated", v3.id, "validated")]
    history = service.versions_of(report)
    assert [(v.number, v.status) for v in history] == [
        (1, "superseded"), (2, "superseded"), (3, "validated")]
    # every version keeps its own acts
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Act)
                             .where(Act.version_id == v1.id)) == 2


def test_submitted_versions_are_immutable(idf, users):
    v1 = submit_file(idf, [row(1)], users["mandataire"])
    act = db.session.scalar(sa.select(Act).where(Act.version_id == v1.id))
    with pytest.raises(service.ReportingError, match="plus modifiable"):
        service.delete_act(v1, act, users["mandataire"])
    with pytest.raises(service.ReportingError, match="examen"):
        service.new_correction(v1.report, users["mandataire"])
    result = service.import_file(idf, P, make_file("IDF", P, [row(5)]), user=users["mandataire"])
    assert not result.accepted and "examen" in result.errors[0].message


def test_days_late_counts_calendar_days_after_the_deadline(idf, users):
    assert service.deadline(idf, P) == date(2025, 4, 10)
    v = submit_file(idf, [row(1)], users["mandataire"], today=date(2025, 4, 10))
    assert v.days_late == 0
    service.decide(v, users["manager"], "reject", "non", v.version_counter)
    v2 = service.new_correction(v.report, users["mandataire"])
    service.submit(v2, users["mandataire"], today=date(2025, 4, 13))
    assert v2.days_late == 3


def test_submission_rechecks_the_draft(idf, users):
    result = service.import_file(idf, P, make_file("IDF", P, [row(1)]), user=users["mandataire"])
    draft = db.session.get(ReportVersion, result.version_id)
    # the site closes retroactively after the upload: the submission sees it
    from fc_market.territory.models import Site
    site = db.session.scalar(sa.select(Site).where(Site.lot_id == idf.id, Site.code == "S001"))
    site.closed_on = date(2025, 3, 5)
    db.session.commit()
    checker = service.submit(draft, users["mandataire"])
    assert checker.error_count == 1 and checker.errors[0].code == "site_closed"
    db.session.rollback()
    assert db.session.get(ReportVersion, draft.id).status == "draft"


def test_two_reviewers_at_once_the_second_gets_a_french_409(app, idf, users, login):
    from fc_market.auth.service import create_user
    from tests.conftest import PASSWORD, Browser
    v = submit_file(idf, [row(1)], users["mandataire"])
    other = create_user("manager2@test.fr", "Manager 2", "manager", PASSWORD)
    db.session.commit()
    first, second = login("manager"), Browser(app, other)
    url = f"/reporting/versions/{v.id}"
    assert first.get(url).status_code == 200 and second.get(url).status_code == 200
    counter = v.version_counter
    r1 = first.post(url + "/decision", data={"decision": "validate", "counter": counter})
    assert r1.status_code == 302
    r2 = second.post(url + "/decision", data={"decision": "reject", "comment": "non",
                                               "counter": counter})
    assert r2.status_code == 409
    assert "traitée par une autre personne de France compétences" in r2.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ReportVersion, v.id).status == "validated"


def test_a_true_race_is_caught_by_the_version_counter(app, idf, users):
    v = submit_file(idf, [row(1)], users["mandataire"])
    manager = users["manager"]
    engine = db.engine
    with Session(engine) as s1, Session(engine) as s2:
        a = s1.get(ReportVersion, v.id)
        b = s2.get(ReportVersion, v.id)
        a.status = "validated"
        s1.commit()
        b.status = "rejected"
        from sqlalchemy.orm.exc import StaleDataError
        with pytest.raises(StaleDataError):
            s2.commit()
    # and the service turns it into a Conflict with a French message
    db.session.expire_all()
    fresh = db.session.get(ReportVersion, v.id)
    with pytest.raises(service.Conflict, match="autre personne"):
        service.decide(fresh, manager, "reject", "x", 1)
    assert manager is not None
