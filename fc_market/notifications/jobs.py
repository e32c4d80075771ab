from fc_market.notifications.service import send_pending_emails
from fc_market.scheduler.registry import job


@job("notifications.send_emails", cron={"minute": "*/10"}, slot="%Y-%m-%dT%H:%M",
     description="Envoie par courriel les notifications en attente (si SMTP configuré).")
def send_emails(today):
    return f"{send_pending_emails()} courriel(s) envoyé(s)"
