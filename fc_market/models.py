"""Every model, imported in one place so Alembic and the app see the whole schema."""
from fc_market.audit.models import AuditEntry, FiguresAudit  # noqa: F401
from fc_market.auth.models import LoginAttempt, User, UserSession  # noqa: F401
from fc_market.market.models import (  # noqa: F401
    Amendment, FlagRule, Lot, LotContract, LotTarget, Market, Operator, OperatorMember, Price,
    UnitOfWork)
from fc_market.reporting.models import (  # noqa: F401
    Act, DoubleFinancingAlert, LotFigures, Report, ReportImport, ReportVersion)
from fc_market.territory.models import Site, SiteChange  # noqa: F401
from fc_market.notifications.models import Notification  # noqa: F401
from fc_market.scheduler.models import JobRun  # noqa: F401
from fc_market.controls.models import ControlCampaign, ControlItem, ControlPeriod, ControlProof  # noqa: F401,E501
from fc_market.billing.models import (  # noqa: F401
    DocumentSequence, EcbRate, IndexValue, InterruptionDocument, Invoice, InvoiceInterruption,
    PayableStatement, PayableStatementLine, Payment, PaymentImport, Reconciliation)
from fc_market.steering.models import (  # noqa: F401
    Flag, FlagReading, LotMonthStat, SteeringPack, SteeringRefresh)
from fc_market.opendata.models import OpenDataExport, PublishedItem  # noqa: F401
from fc_market.uo4.models import (  # noqa: F401
    Uo4Document, Uo4Filing, Uo4Line, Uo4Message, Uo4Version)
from fc_market.cases.models import CaseEvent, CaseFile, FlagCase  # noqa: F401
