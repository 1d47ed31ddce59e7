"""The dashboard's tables: one-time sign-in links and the web sessions they open.

Neither stores a secret: only SHA-256 hashes of the token in the link and of the
session cookie. Both hang on the platform account the link was asked from
(``identity_id``, deleted with it), so unlinking, removing or erasing a member
removes their links and sessions in the same transaction. Administrators named
in the configuration who have no member record are recorded by account
(``admin_account``) and re-checked against the configuration at every request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class DashboardLink(Base):
    """A personal sign-in link given in chat: short validity, used once."""

    __tablename__ = "dashboard_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform_identity.id", ondelete="CASCADE"), index=True)
    admin_account: Mapped[str | None] = mapped_column(String(300))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    """The cohort the link was asked about: where the browser lands."""
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A browser signed in through a link; the cookie holds the secret, this row its hash."""

    __tablename__ = "dashboard_session"
    __table_args__ = (Index("ix_dashboard_session_expires", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform_identity.id", ondelete="CASCADE"), index=True)
    admin_account: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
