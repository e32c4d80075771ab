"""What has been published, so that published data is never edited: a contract's essential
data and each of its modifications are frozen the first time they are published; a later
export repeats them as they were and appends what is new."""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.models_base import utcnow


class PublishedItem(db.Model):
    """One DECP object as first published: a lot contract's initial essential data
    (``amendment_id`` empty) or one ``modification`` (an amendment changing the amount, the
    duration or the holders).  Never updated; the export reads it back verbatim."""
    __tablename__ = "opendata_published_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: "<contract reference>" or "<contract reference>/avenant-<n>": unique, the freezing key
    key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    amendment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("amendments.id"), unique=True)
    #: Sequence of the modification inside the contract (DECP ``modification.id``), 0 initial
    sequence: Mapped[int] = mapped_column(default=0)
    published_on: Mapped[date]
    #: The DECP object exactly as published (marche without modifications, or modification)
    content: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lot = relationship("Lot")
    amendment = relationship("Amendment")

    __table_args__ = (sa.CheckConstraint("sequence >= 0", name="sequence"),
                      sa.CheckConstraint("(amendment_id IS NULL) = (sequence = 0)", name="initial"))


class OpenDataExport(db.Model):
    """One produced open-data file (DECP or OCDS), kept as produced: the page offers the last
    one of each kind with its date, and any earlier one stays downloadable."""
    __tablename__ = "opendata_exports"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: decp or ocds
    kind: Mapped[str] = mapped_column(sa.String(8))
    produced_at: Mapped[datetime] = mapped_column(default=utcnow)
    produced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    #: Number of lot contracts and of modifications / payments in the file
    summary: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    content: Mapped[str] = mapped_column(sa.Text)

    produced_by = relationship("User")

    __table_args__ = (sa.CheckConstraint("kind IN ('decp', 'ocds')", name="kind"),
                      sa.CheckConstraint("size > 0", name="size"))

    @property
    def kind_label(self):
        return KIND_LABELS[self.kind]


KIND_LABELS = {"decp": "Données essentielles (DECP v2)", "ocds": "Exécution du marché (OCDS 1.1)"}
