"""Flag cases: the life cycle, its audit and notifications, the overdue plan (job and flag),
role isolation (a mandataire never sees another lot's case nor FC's internal comments)."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fc_market.audit.models import AuditEntry
from fc_market.cases import service
from fc_market.cases.models import CaseEvent, CaseStatus, FlagCase
from fc_market.extensions import db
from fc_market.market.models import FlagRule
from fc_market.notifications.models import Notification
from fc_market.reporting.service import paris_today
from fc_market.steering import service as steering
from fc_market.steering.models import Flag, FlagReading
from tests.uo4.conftest import PDF, lot

INTERNAL = "Note interne : le référent pense que le lot sous-déclare."


def _flag(code, rule_code="coverage_floor"):
    rule = db.session.scalar(sa.select(FlagRule).where(FlagRule.code == rule_code))
    flag = Flag(rule_id=rule.id, lot_id=lot(code).id, opened_on=date(2025, 2, 1),
                opening_value=Decimal("0.8"), value=Decimal("0.8"), threshold=rule.threshold,
                evaluated_on=date(2025, 2, 1), detail="80 % de la population à 30 km")
    flag.readings.append(FlagReading(read_on=date(2025, 2, 1), value=Decimal("0.8"), breached=True))
    db.session.add(flag)
    db.session.flush()
    return flag


def test_life_cycle_keeps_readings_thread_and_decisions(users):
    manager, mandataire = users["manager"], users["mandataire"]
    flag = _flag("IDF")
    case = service.open_case(flag, manager, INTERNAL)
    assert service.open_case(flag, manager) is case                     # one case per flag
    with pytest.raises(service.CaseError, match="impossible"):
        service.follow(case, manager, None)                              # new → followed: refused
    with pytest.raises(service.CaseError, match="obligatoire"):
        service.acknowledge(case, manager, " ")
    service.acknowledge(case, manager, "Baisse du maillage après deux fermetures.", internal=False)
    today = date(2025, 3, 1)
    with pytest.raises(service.CaseError, match="postérieure"):
        service.request_plan(case, manager, "Rouvrir un site", today, today)
    service.request_plan(case, manager, "Rouvrir un site dans le Val-d'Oise.", date(2025, 4, 1), today)
    with pytest.raises(service.CaseError, match="Décrivez"):
        service.submit_plan(case, mandataire, "", [])
    with pytest.raises(service.CaseError, match="refusé"):
        service.submit_plan(case, mandataire, "Plan", [(b"not a pdf", "plan.exe")])
    assert case.status == CaseStatus.PLAN_REQUESTED
    service.submit_plan(case, mandataire, "Ouverture d'une permanence à Cergy en mai.",
                        [(PDF, "plan.pdf")])
    service.follow(case, manager, "Suivi au comité de juin.")
    with pytest.raises(service.CaseError, match="motif"):
        service.close(case, manager, "because", None)
    service.close(case, manager, "plan_done", "Permanence ouverte.")
    db.session.commit()
    assert case.status == CaseStatus.CLOSED and case.close_reason == "plan_done"
    assert [e.kind for e in case.events] == ["opened", "acknowledged", "plan_requested",
                                             "plan_submitted", "followed", "closed"]
    assert [(e.from_status, e.to_status) for e in case.events][1:3] == [
        ("new", "acknowledged"), ("acknowledged", "plan_requested")]
    assert case.events[3].files[0].name == "plan.pdf"
    assert case.flag.readings[0].value == Decimal("0.8000")
    with pytest.raises(service.CaseError):
        service.request_plan(case, manager, "encore", date(2025, 5, 1), today)
    with pytest.raises(service.CaseError, match="clos"):
        service.comment(case, mandataire, "Une question encore")
    actions = db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.action.like("cases.%"))
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["cases.open", "cases.acknowledge", "cases.request_plan", "cases.submit_plan",
                       "cases.follow", "cases.close"]
    kinds = db.session.scalars(sa.select(Notification.kind).order_by(Notification.id)).all()
    assert kinds == ["cases.opened", "cases.plan_requested", "cases.plan_submitted",
                     "cases.followed", "cases.closed"]


def test_overdue_plan_is_flagged_and_notified_once(users):
    manager = users["manager"]
    case = service.open_case(_flag("IDF"), manager)
    service.acknowledge(case, manager, "lu")
    service.request_plan(case, manager, "Un plan", date(2025, 4, 1), date(2025, 3, 1))
    assert service.plan_lateness([lot("IDF")], date(2025, 4, 1))[lot("IDF").id].value == 0
    assert service.plan_lateness([lot("IDF")], date(2025, 4, 6))[lot("IDF").id].value == 5
    assert service.notify_overdue(date(2025, 4, 6)) == 1
    assert service.notify_overdue(date(2025, 4, 7)) == 0               # once per deadline
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "cases.overdue")).all()
    assert sorted(n.audience for n in notes) == ["fc", "mandataire"]
    result = steering.evaluate(date(2025, 4, 6), [lot("IDF").id])
    overdue = [f for f in result.opened if f.rule.code == "action_plan_overdue"]
    assert len(overdue) == 1 and overdue[0].value == Decimal("5")
    # the plan arrives: the overdue flag clears at the next evaluation
    service.submit_plan(case, users["mandataire"], "Plan remis", [])
    steering.evaluate(date(2025, 4, 7), [lot("IDF").id])
    assert overdue[0].cleared_on == date(2025, 4, 7)


def test_the_job_runs_through_the_scheduler(users):
    from datetime import datetime
    from fc_market.scheduler.registry import run_once
    case = service.open_case(_flag("IDF"), users["manager"])
    service.acknowledge(case, users["manager"], "lu")
    service.request_plan(case, users["manager"], "Un plan", date(2025, 4, 1), date(2025, 3, 1))
    db.session.commit()
    run = run_once("cases.overdue", now=datetime(2025, 4, 3, 7, 0))
    assert run.status == "done" and run.detail.startswith("1 plan")


def _case_with_internal_note(users, code):
    manager = users["manager"]
    mandataire = users["mandataire"] if code == "IDF" else users["other_mandataire"]
    case = service.open_case(_flag(code), manager, INTERNAL)
    service.acknowledge(case, manager, "Lecture interne confidentielle.", internal=True)
    service.comment(case, manager, "Note interne : à voir au comité.", internal=True)
    service.request_plan(case, manager, "Merci de proposer un plan.", paris_today() + timedelta(days=30),
                         paris_today())
    service.comment(case, mandataire, "Bien reçu.", internal=True)     # never internal
    db.session.commit()
    return case


def test_mandataire_sees_its_cases_without_internal_comments(users, login):
    own = _case_with_internal_note(users, "IDF")
    other = _case_with_internal_note(users, "BRE")
    assert db.session.scalar(sa.select(CaseEvent).where(CaseEvent.body == "Bien reçu.")).internal is False
    mandataire = login("mandataire")
    page = mandataire.get(f"/dossiers/{own.id}").get_data(as_text=True)
    assert "Merci de proposer un plan." in page and "Bien reçu." in page
    assert "Note interne" not in page and "confidentielle" not in page and INTERNAL not in page
    assert mandataire.get(f"/dossiers/{other.id}").status_code == 404
    listing = mandataire.get("/dossiers/mes-plans-d-action").get_data(as_text=True)
    assert f"/dossiers/{own.id}" in listing and f"/dossiers/{other.id}" not in listing
    # filters cannot widen a mandataire's list
    assert f"/dossiers/{other.id}" not in mandataire.get("/dossiers?lot=BRE").get_data(as_text=True)
    home = mandataire.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Mes plans d'action : 1 attendu(s) de vous" in home
    # posting on another lot's case is refused and changes nothing
    assert mandataire.post(f"/dossiers/{other.id}/plan", data={"plan-body": "x"}).status_code == 404
    assert mandataire.post(f"/dossiers/{other.id}/message", data={"message-body": "x"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(FlagCase, other.id).status == CaseStatus.PLAN_REQUESTED
    # the mandataire answers from the case page
    response = mandataire.post(f"/dossiers/{own.id}/plan", data={"plan-body": "Deux actions d'ici juin."})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(FlagCase, own.id).status == CaseStatus.PLAN_SUBMITTED
    manager = login("manager").get(f"/dossiers/{own.id}").get_data(as_text=True)
    assert "à voir au comité" in manager and "Deux actions d&#39;ici juin." in manager


def test_fc_list_filters_by_lot_category_and_status(users, login):
    own = _case_with_internal_note(users, "IDF")
    other = _case_with_internal_note(users, "BRE")
    service.close(other, users["manager"], "accepted", None)
    db.session.commit()
    fc = login("manager")
    assert f"/dossiers/{own.id}\"" in fc.get("/dossiers?lot=IDF").get_data(as_text=True)
    assert f"/dossiers/{other.id}\"" not in fc.get("/dossiers?lot=IDF").get_data(as_text=True)
    closed = fc.get("/dossiers?statut=closed").get_data(as_text=True)
    assert f"/dossiers/{other.id}\"" in closed and f"/dossiers/{own.id}\"" not in closed
    assert f"/dossiers/{own.id}\"" not in fc.get("/dossiers?categorie=quality").get_data(as_text=True)
    flags = fc.get("/pilotage/signalements?dossier=plan_requested").get_data(as_text=True)
    assert f"/dossiers/{own.id}\"" in flags and f"/dossiers/{other.id}\"" not in flags
    flags = fc.get("/pilotage/signalements?lot=BRE&categorie=access").get_data(as_text=True)
    assert f"/dossiers/{other.id}\"" in flags and f"/dossiers/{own.id}\"" not in flags
    assert "Sans dossier" in flags
    scorecard = fc.get("/pilotage/lots/IDF").get_data(as_text=True)
    assert "Dossiers ouverts (1)" in scorecard
