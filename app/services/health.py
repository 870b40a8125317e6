"""Operations: readiness (the database answers, its schema is at the newest migration) and the delivery
queue numbers that /metrics reports."""

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import func, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Code, ServiceUnavailable
from app.models.webhook import Delivery
from app.observability import DeliveryQueue

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


@lru_cache
def migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def check_ready(session: Session) -> dict[str, str]:
    try:
        current = set(session.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(
            "The database is not reachable or not migrated.", code=Code.DATABASE_UNAVAILABLE
        ) from exc
    if current != migration_heads():
        raise ServiceUnavailable(
            "The database schema is not at the newest migration; run `hep migrate`.",
            code=Code.MIGRATIONS_PENDING,
        )
    return {"status": "ready", "database": "ok", "migration": ",".join(sorted(current))}


def delivery_queue(session: Session) -> DeliveryQueue | None:
    """Pending and due deliveries, and the wait of the oldest due one; None if the database fails.

    One query on the (status, next_attempt_at) index, so a scrape stays cheap with a long queue.
    """
    now = utcnow()
    due = col(Delivery.next_attempt_at) <= now
    try:
        pending, due_count, oldest_due = session.exec(
            select(
                func.count(), func.count().filter(due), func.min(Delivery.next_attempt_at).filter(due)
            ).where(Delivery.status == "pending")
        ).one()
        session.rollback()  # end the read at once: on SQLite an open transaction holds the write lock
    except SQLAlchemyError:
        session.rollback()
        return None
    waited = (now - oldest_due).total_seconds() if oldest_due is not None else 0.0
    return DeliveryQueue(pending=pending, due=due_count, oldest_due_seconds=max(0.0, waited))
