"""The schema comes only from migrations: head matches the models, and downgrade to base works."""

import os

import pytest
from sqlalchemy import create_engine, inspect

from alembic import command
from app.services.health import alembic_config
from tests import dbutil


@pytest.fixture
def fresh_url(tmp_path):
    url = dbutil.create_database(os.environ.get("HEP_TEST_DATABASE_URL"), tmp_path / "migrations.db")
    yield url
    dbutil.drop_database(url)


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_upgrade(fresh_url):
    config = alembic_config(fresh_url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    assert {"clinic", "staff_user", "patient", "api_key", "audit_event"} <= _tables(fresh_url)
    command.check(config)  # raises when the models and the migrated schema differ
    command.downgrade(config, "base")
    assert _tables(fresh_url) <= {"alembic_version"}
    command.upgrade(config, "head")
    command.check(config)


def test_readyz_is_503_until_migrated(fresh_url, monkeypatch):
    from sqlmodel import Session

    from app.db import make_engine
    from app.errors import ServiceUnavailable
    from app.services.health import check_ready

    engine = make_engine(fresh_url)
    try:
        with Session(engine) as session, pytest.raises(ServiceUnavailable) as raised:
            check_ready(session)
        assert raised.value.code == "database_unavailable"
        config = alembic_config(fresh_url)
        config.attributes["configure_logger"] = False
        command.upgrade(config, "0001")
        command.stamp(config, "base")
        with Session(engine) as session, pytest.raises(ServiceUnavailable) as raised:
            check_ready(session)
        assert raised.value.code == "migrations_pending"
        command.stamp(config, "head")
        with Session(engine) as session:
            assert check_ready(session)["status"] == "ready"
    finally:
        engine.dispose()
