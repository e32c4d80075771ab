"""Scheduled jobs of flag cases."""
from fc_market.scheduler.registry import job


@job("cases.overdue", cron={"hour": 7, "minute": 0},
     description="Signale les plans d'action demandés et non remis à l'échéance (chaque matin).")
def overdue_plans(today):
    from fc_market.cases.service import notify_overdue
    return f"{notify_overdue(today)} plan(s) d'action en retard notifié(s)"
