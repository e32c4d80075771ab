"""Scheduled jobs of the UO4 follow-up."""
from fc_market.scheduler.registry import job


@job("uo4.deadlines", cron={"hour": 7, "minute": 10},
     description="Rappelle au mandataire un plan ou un bilan UO4 non déposé après l'échéance.")
def missing_filings(today):
    from fc_market.uo4.service import notify_missing
    return f"{notify_missing(today)} rappel(s) UO4"
