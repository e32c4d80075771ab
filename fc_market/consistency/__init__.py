"""The consistency check of the figures users read (``flask audit figures``): the screens'
totals recomputed independently from the acts, statements, invoices, payments and sites.
It reads every domain module, so it sits above them (its result is an audit record,
:class:`fc_market.audit.models.FiguresAudit`)."""
