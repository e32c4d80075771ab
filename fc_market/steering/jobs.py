"""Scheduled steering jobs: nightly flags, monthly steering pack."""
from fc_market.scheduler.registry import job


@job("steering.flags", cron={"hour": 2, "minute": 30},
     description="Reconstruit les agrégats de pilotage et recalcule les signalements (chaque nuit).")
def nightly_flags(today):
    from fc_market.steering import service
    return service.rebuild_everything(today)[1].summary()


@job("steering.pack", cron={"day": 15, "hour": 6, "minute": 0}, slot="%Y-%m",
     description="Génère le dossier de pilotage mensuel (classeur Excel).")
def monthly_pack(today):
    from fc_market.steering import pack
    stored = pack.generate(today, trigger="job")
    return f"Dossier {stored.period} ({stored.size} octets)"


@job("steering.refresh", cron={"minute": "*"}, slot="%Y-%m-%dT%H:%M",
     description="Reconstruit les agrégats des lots en attente (grand lot dont un reporting vient "
                 "d'être validé, « Recalculer maintenant ») : chaque minute, lot par lot.")
def refresh_queue(today):
    from fc_market.steering import service
    return f"{service.process_queue(today)} lot(s) mis à jour"
