"""Sites where a lot's groupement receives beneficiaries."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, status_column
from fc_market.models_base import utcnow

SITE_KINDS = {"permanent": "Site permanent", "permanence": "Permanence", "itinerant": "Itinérant"}


class Site(db.Model):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    #: Short code the operator uses in its reporting (unique within the lot)
    code: Mapped[str] = mapped_column(sa.String(32))
    #: The groupement member that runs the site
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("operator_members.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    address: Mapped[str | None] = mapped_column(sa.String(300))
    postcode: Mapped[str | None] = mapped_column(sa.String(5))
    commune: Mapped[str] = mapped_column(sa.String(120))
    departement: Mapped[str | None] = mapped_column(sa.String(3))
    latitude: Mapped[Decimal] = mapped_column(sa.Numeric(9, 6))
    longitude: Mapped[Decimal] = mapped_column(sa.Numeric(9, 6))
    #: permanent, permanence (temporary, a few days a month) or itinerant
    kind: Mapped[str] = mapped_column(sa.String(16))
    #: {"lundi": "09:00-12:00,14:00-19:00", ...}
    opening_hours: Mapped[dict | None] = mapped_column(sa.JSON)
    disabled_access: Mapped[bool] = mapped_column(default=False)
    opened_on: Mapped[date]
    closed_on: Mapped[date | None]
    #: Bumped each time an approved change is applied; a request proposed against an older
    #: revision is refused at decision time (someone changed the site in between)
    revision: Mapped[int] = mapped_column(default=1, server_default="1")

    lot = relationship("Lot")
    member = relationship("OperatorMember")

    __table_args__ = (
        sa.UniqueConstraint("lot_id", "code"),
        sa.CheckConstraint("kind IN ('permanent', 'permanence', 'itinerant')", name="kind"),
        sa.CheckConstraint("latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180",
                           name="coordinates"),
        sa.CheckConstraint("closed_on IS NULL OR closed_on >= opened_on", name="dates"),
    )

    def is_open_on(self, day):
        return self.opened_on <= day and (self.closed_on is None or self.closed_on >= day)

    @property
    def kind_label(self):
        return SITE_KINDS.get(self.kind, self.kind)

    @property
    def evening(self):
        """Open after 18:00 on at least one day."""
        return hours_flags(self.opening_hours)[0]

    @property
    def saturday(self):
        return hours_flags(self.opening_hours)[1]


#: Weekdays in order, as keys of ``opening_hours``
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def hours_flags(hours):
    """(open in the evening after 18:00, open on Saturday) from an ``opening_hours`` dict."""
    evening = saturday = False
    for day, spec in (hours or {}).items():
        if not spec:
            continue
        if day == "samedi":
            saturday = True
        for part in str(spec).split(","):
            _, _, end = part.strip().partition("-")
            if end and end.strip() > "18:00":
                evening = True
    return evening, saturday


class ChangeAction:
    OPEN = "open"
    UPDATE = "update"
    CLOSE = "close"
    LABELS = {OPEN: "Ouverture d'un site", UPDATE: "Modification", CLOSE: "Fermeture"}


class ChangeStatus(StatusEnum):
    PENDING = "pending", "En attente de décision"
    APPROVED = "approved", "Approuvée"
    REFUSED = "refused", "Refusée"
    WITHDRAWN = "withdrawn", "Retirée"

    @classmethod
    def moves(cls):
        return {cls.PENDING: {cls.APPROVED, cls.REFUSED, cls.WITHDRAWN}}


class SiteChange(db.Model):
    """A request to open, change or close a site: proposed by the mandataire (or FC),
    decided by FC.  Requests are never deleted; an approved one is applied to the site
    with an audit entry and stays as the history of the site."""
    __tablename__ = "site_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    #: The site changed or closed; for an opening, the site created once approved
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[ChangeStatus] = status_column(ChangeStatus, 10, default=ChangeStatus.PENDING)
    #: Proposed values (JSON-safe: dates ISO, coordinates as strings)
    proposed: Mapped[dict] = mapped_column(sa.JSON)
    #: Values of the site when the request was made (for the before/after reading)
    previous: Mapped[dict | None] = mapped_column(sa.JSON)
    #: Site revision the request was made against
    base_revision: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)
    #: web or excel; an import groups its rows under one batch key
    source: Mapped[str] = mapped_column(sa.String(8), default="web")
    batch: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)
    #: Optimistic lock: two managers cannot both decide
    version_counter: Mapped[int] = mapped_column(default=1)

    lot = relationship("Lot")
    site = relationship("Site")
    created_by = relationship("User", foreign_keys=[created_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        sa.CheckConstraint("action IN ('open', 'update', 'close')", name="action"),
        ChangeStatus.check_constraint(),
        sa.CheckConstraint("source IN ('web', 'excel')", name="source"),
        sa.CheckConstraint("action = 'open' OR site_id IS NOT NULL", name="site"),
        sa.CheckConstraint("status = 'pending' OR decided_at IS NOT NULL", name="decided"),
    )

    @property
    def action_label(self):
        return ChangeAction.LABELS.get(self.action, self.action)

    @property
    def status_label(self):
        return ChangeStatus.label_of(self.status)

    @property
    def is_pending(self):
        return self.status == ChangeStatus.PENDING
