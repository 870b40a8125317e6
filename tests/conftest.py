"""Test set-up: one fresh database per run (SQLite file, or a new PostgreSQL database), built by migrations.

Set HEP_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test to run on PostgreSQL: the run
creates its own database next to that one and drops it at the end, so runs never see each other's data.
"""

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HEP_ENV"] = "test"
os.environ["HEP_SECRET_KEY"] = "test-secret-key-that-is-long-enough-0123456789"
os.environ["HEP_WEBHOOK_ALLOW_PRIVATE"] = "1"
# Real argon2id, with the library's test parameters: the suite hashes hundreds of passwords.
os.environ["HEP_ARGON2_PROFILE"] = "cheapest"
# Tests that deliver webhooks run their own dispatcher, with a compressed retry schedule.
os.environ["HEP_DISPATCHER"] = "off"
os.environ.pop("HEP_DEMO", None)

from tests import dbutil  # noqa: E402

_created: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    url = dbutil.create_database(
        os.environ.get("HEP_TEST_DATABASE_URL"), Path(tempfile.mkdtemp()) / "test.db"
    )
    _created["url"] = url
    os.environ["HEP_DATABASE_URL"] = url
    dbutil.migrate(url)
    _seed_catalogue(url)


def _seed_catalogue(url: str) -> None:
    from sqlmodel import Session

    from app.db import make_engine
    from app.models.catalogue_files import load_catalogue
    from app.services.catalogue import seed_catalogue

    engine = make_engine(url)
    with Session(engine) as session:
        seed_catalogue(session, load_catalogue())
        session.commit()
    engine.dispose()


def pytest_unconfigure(config: pytest.Config) -> None:
    url = _created.pop("url", None)
    if url:
        from app.db import get_engine

        get_engine().dispose()
        dbutil.drop_database(url)


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ["HEP_DATABASE_URL"]


@pytest.fixture(scope="session")
def app():
    from app.main import create_app

    return create_app()


@pytest.fixture
def client(app) -> Iterator:
    from fastapi.testclient import TestClient

    # A distinct (loopback) client address per test, so sign-in rate limits never leak between tests.
    address = f"127.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    with TestClient(app, client=(address, 50000)) as test_client:
        yield test_client


@pytest.fixture
def session():
    from sqlmodel import Session

    from app.db import get_engine

    with Session(get_engine(), expire_on_commit=False) as db:
        yield db


@pytest.fixture
def world(session):
    """Two clinics, each with an admin, a physio, a patient (signed in) and an API key."""
    from tests.factories import make_world

    return make_world(session)


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def live_server(database_url, tmp_path_factory) -> Iterator[str]:
    """`hep serve` (real uvicorn) on 127.0.0.1 over the suite's database, for third-party clients that
    speak HTTP themselves (authlib, fhirpy, generated clients, Node)."""
    from tests.helpers import free_port, hep_serve

    env = {**os.environ, "HEP_DATABASE_URL": database_url, "HEP_PORT": str(free_port()), "HEP_DEMO": "0"}
    with hep_serve(env, tmp_path_factory.mktemp("live") / "serve.log") as served:
        yield served.url
