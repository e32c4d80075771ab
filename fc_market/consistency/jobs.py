from fc_market.consistency import figures
from fc_market.scheduler.registry import job


@job("audit.figures", cron={"hour": 3, "minute": 15},
     description="Recalcule les chiffres affichés et enregistre les désaccords (audit des chiffres).")
def audit_figures(today):
    result = figures.run(today)
    figures.store(result, source="scheduler")
    return (f"{result['checked']} chiffre(s) comparé(s), "
            f"{len(result['disagreements'])} désaccord(s)")
