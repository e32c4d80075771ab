from fc_market.controls.service import expire_unanswered
from fc_market.scheduler.registry import job


@job("controls.expire_unanswered", cron={"hour": 1, "minute": 15},
     description="Classe « non justifiés » les dossiers de contrôle sans réponse à l'échéance.")
def expire(today):
    return f"{expire_unanswered(today)} dossier(s) classé(s) non justifié(s)"
