"""Every model, imported in one place so Alembic and the app see the whole schema."""
from fc_market.audit.models import AuditEntry  # noqa: F401
from fc_market.auth.models import LoginAttempt, User  # noqa: F401
from fc_market.market.models import (  # noqa: F401
    Amendment, FlagRule, Lot, LotContract, LotTarget, Market, Operator, OperatorMember, Price,
    UnitOfWork)
from fc_market.reporting.models import Act, LotFigures, Report, ReportVersion  # noqa: F401
from fc_market.territory.models import Site  # noqa: F401
from fc_market.notifications.models import Notification  # noqa: F401
from fc_market.scheduler.models import JobRun  # noqa: F401
