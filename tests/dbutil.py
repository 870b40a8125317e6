"""Create, migrate and drop throw-away test databases on SQLite or PostgreSQL."""

import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from alembic import command


def create_database(base_url: str | None, sqlite_path: Path) -> str:
    """A new empty database: next to base_url on PostgreSQL, else a SQLite file at sqlite_path."""
    if not base_url:
        return f"sqlite:///{sqlite_path}"
    url = make_url(base_url)
    name = f"hep_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str, revision: str = "head") -> None:
    from app.services.health import alembic_config

    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, revision)
