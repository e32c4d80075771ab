from fc_market.billing.service import watch_payments
from fc_market.scheduler.registry import job


@job("billing.watch_payments", cron={"hour": 7, "minute": 30},
     description="Prévient les finances des factures dont le délai de paiement expire ou est dépassé.")
def watch(today):
    return f"{watch_payments(today)} alerte(s) de délai de paiement"
