"""Sites where a lot's groupement receives beneficiaries."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db

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
