"""The storage side of Idempotency-Key (app/services/idempotency.py): a duplicate claimed while the first
is uncommitted waits for it and gets its answer (or the key, if the first rolled back); nothing readable
is stored; the daily prune removes keys after 24 hours."""

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from app.db import get_engine, utcnow
from app.models.common import Actor
from app.models.idempotency import IdempotencyKey
from app.scheduler import Scheduler
from app.services import idempotency, jobs
from tests.helpers import wait_until

SECRET = "test-secret-key-that-is-long-enough-0123456789"
ANSWER = idempotency.Answer(
    201, {"content-type": "application/json", "etag": '"1"'}, b'{"key":"hep_shown_once"}'
)


def _actor(world) -> Actor:
    return Actor(kind="api_key", id=uuid.uuid4(), clinic_id=world.a.clinic.id)


def _claim_in_thread(actor: Actor, key: str) -> tuple[threading.Thread, list[idempotency.Claim]]:
    found: list[idempotency.Claim] = []

    def claim() -> None:
        with Session(get_engine()) as session:
            found.append(idempotency.claim(session, SECRET, actor, key, "request", utcnow()))
            session.commit()

    thread = threading.Thread(target=claim)
    thread.start()
    return thread, found


def _waiting_on_a_lock(session: Session) -> bool:
    """PostgreSQL: another connection waits on a row lock (the duplicate's INSERT on the first's row)."""
    return bool(
        session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar()
    )


@pytest.mark.parametrize("first_commits", [True, False])
def test_a_duplicate_waits_for_the_first_and_gets_its_outcome(world, first_commits):
    actor, key = _actor(world), str(uuid.uuid4())
    with Session(get_engine()) as first:
        held = idempotency.claim(first, SECRET, actor, key, "request", utcnow())
        assert held.replay is None
        thread, found = _claim_in_thread(actor, key)
        if get_engine().dialect.name == "postgresql":
            with Session(get_engine()) as observer:
                wait_until(lambda: _waiting_on_a_lock(observer))
        assert not found  # it cannot have an answer while the first is uncommitted
        if first_commits:
            idempotency.store(first, held, ANSWER)
            first.commit()
        else:
            first.rollback()
    thread.join()
    [duplicate] = found
    if first_commits:
        assert duplicate.replay == ANSWER
    else:
        assert duplicate.replay is None  # the first never happened: the duplicate is now the first


def test_another_request_under_the_key_is_refused(session, world):
    actor, key = _actor(world), str(uuid.uuid4())
    held = idempotency.claim(session, SECRET, actor, key, "request", utcnow())
    idempotency.store(session, held, ANSWER)
    with pytest.raises(idempotency.IdempotencyKeyReused):
        idempotency.claim(session, SECRET, actor, key, "another request", utcnow())
    session.rollback()


def test_only_a_success_is_kept(session, world):
    actor, key = _actor(world), str(uuid.uuid4())
    held = idempotency.claim(session, SECRET, actor, key, "request", utcnow())
    idempotency.store(session, held, idempotency.Answer(400, {}, b"{}"))
    assert idempotency.claim(session, SECRET, actor, key, "another request", utcnow()).replay is None
    session.rollback()


def test_neither_the_key_nor_the_answer_is_stored_readable(session, world):
    actor, key = _actor(world), "my-key-" + uuid.uuid4().hex
    idempotency.store(session, idempotency.claim(session, SECRET, actor, key, "request", utcnow()), ANSWER)
    session.commit()
    row = session.exec(select(IdempotencyKey).where(IdempotencyKey.caller_id == actor.id)).one()
    stored = repr(row.model_dump()).encode() + (row.answer or b"")
    assert key.encode() not in stored and b"hep_shown_once" not in stored and b"etag" not in stored
    # With the key (and the server secret) it opens.
    assert idempotency.claim(session, SECRET, actor, key, "request", utcnow()).replay == ANSWER
    session.rollback()


def test_the_daily_prune_removes_keys_after_24_hours(session, world):
    actor = _actor(world)
    now = utcnow()
    for key, age in (("old", timedelta(hours=24, minutes=1)), ("young", timedelta(hours=23))):
        held = idempotency.claim(session, SECRET, actor, key, "request", now - age)
        idempotency.store(session, held, ANSWER)
    other_clinic = Actor(kind="api_key", id=uuid.uuid4(), clinic_id=world.b.clinic.id)
    idempotency.claim(session, SECRET, other_clinic, "old", "request", now - timedelta(days=2))
    session.commit()
    prune = tuple(job for job in jobs.JOBS if job.name == "prune")
    [ran] = Scheduler(get_engine(), job_list=prune).run_due(None, [world.a.clinic.id])
    assert ran.outcome == "1 credentials and keys removed"
    left = session.exec(
        select(IdempotencyKey.clinic_id).where(IdempotencyKey.caller_id.in_([actor.id, other_clinic.id]))
    ).all()
    assert sorted(map(str, left)) == sorted([str(world.a.clinic.id), str(world.b.clinic.id)])
