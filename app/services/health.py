"""Readiness: the database answers and its schema is at the newest migration."""

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.errors import ServiceUnavailable

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
            "The database is not reachable or not migrated.", code="database_unavailable"
        ) from exc
    if current != migration_heads():
        raise ServiceUnavailable(
            "The database schema is not at the newest migration; run `hep migrate`.",
            code="migrations_pending",
        )
    return {"status": "ready", "database": "ok", "migration": ",".join(sorted(current))}
