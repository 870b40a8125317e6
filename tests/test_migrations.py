"""The schema comes only from migrations: head matches the models, and downgrade to base works."""

import os

import pytest
from sqlalchemy import create_engine, inspect

from alembic import command
from app.services.health import alembic_config
from tests import dbutil
from tests.helpers import REPO


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


def test_0013_takes_out_the_placeholder_media_links(fresh_url):
    """The catalogue's placeholder links leave stored exercises and snapshots; a clinic's own links stay."""
    import importlib.util
    import json
    import uuid

    from sqlalchemy import text

    config = alembic_config(fresh_url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0010")
    placeholder = {"kind": "image", "url": "https://media." + "example.org/x.svg", "alt": {"en": "x"}}
    own = {"kind": "video", "url": "https://clinic.test/v.mp4", "alt": {"en": "ours"}}
    engine = create_engine(fresh_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO exercise (id, slug, chain, chain_title, step, category, body_region, "
                    "position, equipment, default_dose, alternatives, requires_clinician_unlock, "
                    "indications, stop_rules, tags, media, sources, created_at, updated_at) VALUES (:id, "
                    "'x', 'c', '{}', 1, 'strength', 'hip', 'supine', '[]', '{}', '{}', false, '[]', '[]', "
                    "'[]', :media, '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": uuid.uuid4().hex, "media": json.dumps([placeholder, own])},
            )
        command.upgrade(config, "head")
        with engine.connect() as connection:
            (media,) = connection.execute(text("SELECT media FROM exercise")).one()
        assert (json.loads(media) if isinstance(media, str) else media) == [own]
    finally:
        engine.dispose()

    path = next((REPO / "alembic" / "versions").glob("*_exercise_illustrations.py"))
    spec = importlib.util.spec_from_file_location("migration_0013", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    snapshot = {
        "programme": {"id": "p"},
        "exercises": {"e": {"en": {"name": "n", "media": [placeholder, own]}}},
    }
    cleaned = migration.snapshot_without_placeholders(snapshot)
    assert cleaned["exercises"]["e"]["en"] == {"name": "n", "media": [own]}
    assert cleaned["programme"] == snapshot["programme"]
