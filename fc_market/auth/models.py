"""Users, roles and login attempts."""
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from fc_market.extensions import db
from fc_market.models_base import utcnow


class Role:
    MANAGER = "manager"
    FINANCE = "finance"
    MANDATAIRE = "mandataire"
    ADMIN = "admin"

    ALL = (MANAGER, FINANCE, MANDATAIRE, ADMIN)
    #: France compétences staff (may read every lot)
    FC = (MANAGER, FINANCE, ADMIN)
    LABELS = {MANAGER: "Chargé(e) de marché FC", FINANCE: "Finances FC",
              MANDATAIRE: "Mandataire opérateur", ADMIN: "Administrateur"}


class User(UserMixin, db.Model):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Login, lower-cased
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    #: The one lot a mandataire may see; empty for FC staff
    lot_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lots.id"))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Changes on password change or deactivation, invalidating existing sessions
    session_token: Mapped[str] = mapped_column(sa.String(64), default="")

    lot = relationship("Lot", foreign_keys=[lot_id])

    __table_args__ = (
        sa.CheckConstraint("role IN ('manager', 'finance', 'mandataire', 'admin')", name="role"),
        sa.CheckConstraint("(role = 'mandataire') = (lot_id IS NOT NULL)", name="mandataire_lot"),
        sa.CheckConstraint("failed_logins >= 0", name="failed_logins"),
    )

    def set_password(self, password):
        """Every password set goes through the policy (``WeakPassword`` otherwise)."""
        import secrets

        from flask import current_app, has_app_context

        from fc_market.auth.passwords import check
        check(password)
        method = (current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
                  if has_app_context() else "scrypt")
        self.password_hash = generate_password_hash(password, method=method)
        self.session_token = secrets.token_hex(16)
        from fc_market.auth import sessions
        sessions.end_all(self)  # every open session of the account is closed

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self):
        return self.active

    @property
    def is_mandataire(self):
        return self.role == Role.MANDATAIRE

    @property
    def is_fc(self):
        return self.role in Role.FC

    @property
    def role_label(self):
        return Role.LABELS.get(self.role, self.role)


class LoginAttempt(db.Model):
    """Every login attempt, for throttling by client address and for the audit."""
    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    success: Mapped[bool]


class UserSession(db.Model):
    """One open login session, server side: the browser's cookie carries a random token
    whose hash is kept here.  Logging out, a password change, a deactivation or inactivity
    deletes the row, which closes every copy of that cookie."""
    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the token in the session cookie (the token itself is never stored)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Last request seen, to within :data:`fc_market.auth.sessions.TOUCH_EVERY`
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
