"""Session logs from the patient app: idempotent by the app's id, coloured and acted on by their symptom
response (app.services.symptom_response).
"""

import hashlib
import json
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from app import store
from app.db import utcnow
from app.errors import Code, Conflict, DomainError, InvalidInput, NotFound
from app.models.common import Actor, Page
from app.models.programme import ItemFacts, ProgrammeFacts
from app.models.safety import SafetyNotice
from app.models.session_log import (
    LATER_FIELDS,
    BatchResult,
    SessionLog,
    SessionLogCreate,
    SessionLogPublic,
)
from app.services import (
    audit,
    events,
    programmes,
    progression,
    symptom_response,
)
from app.services.pagination import PageParams, paginate
from app.store import ItemRow, LogTarget, ProgrammeRow

# Phones' clocks drift; a log a little in the future is a clock, further is a mistake.
CLOCK_SKEW = timedelta(minutes=10)


def body_hash(data: SessionLogCreate) -> str:
    unsent = {name for name in LATER_FIELDS if getattr(data, name) is None}
    body = data.model_dump(mode="json", exclude=unsent)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def public(log: SessionLog, notice: SafetyNotice | None = None) -> SessionLogPublic:
    view = SessionLogPublic.model_validate(log, from_attributes=True)
    view.safety = notice
    return view


_LOG_TABLE = SessionLog.__table__  # type: ignore[attr-defined]
# INSERT unless a row with the id exists: one statement where a savepoint around an ORM insert took three
# (built once and run on the driver, app.query: every log runs it; its checks are read by store.log_target).
_INSERT_NEW = store.InsertNew(_LOG_TABLE, index_elements=[_LOG_TABLE.c.id])


def _insert_new(session: Session, log: SessionLog) -> bool:
    """Store a new log; False when a log with its id was stored first (by a concurrent retry)."""
    connection = session.connection()
    values = {column.name: getattr(log, column.name) for column in _LOG_TABLE.columns}
    return _INSERT_NEW(connection, values)


class _Context:
    """Who a request's logs are stored for (and in which time zone their local day is), in which session."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor
        self.timezone = ZoneInfo(actor.timezone or "UTC")

    def read(self, log_id: uuid.UUID, programme_id: uuid.UUID, item_id: uuid.UUID, at: datetime) -> LogTarget:
        """What a log is checked against, as it is now: read again for every log of a batch, since a log
        before it may have changed it (a red session stops its item)."""
        actor = self.actor
        found = store.log_target(self.session, actor.clinic_id, actor.id, log_id, programme_id, item_id, at)
        if found is None:  # the patient's row is gone (deleted since the caller check)
            raise NotFound("No such programme.")
        return found


def _target(found: LogTarget) -> tuple[ProgrammeRow, ItemRow, str]:
    """The patient's programme (404 if it is not theirs), its item (422 if the item is not part of it) and
    the item's exercise category."""
    if found.programme is None:
        raise NotFound("No such programme.")
    if found.item is None or found.category is None:
        raise InvalidInput("This item is not part of the programme.", code=Code.UNKNOWN_ITEM)
    return found.programme, found.item, found.category


def _existing(session: Session, actor: Actor, data: SessionLogCreate, digest: str) -> SessionLog | None:
    """The stored log with the new log's id, if any (a replay of the same log; 409 for a different one)."""
    stored = session.get(SessionLog, data.id)
    if stored is None:
        return None
    if stored.patient_id != actor.id or stored.body_hash != digest:
        raise Conflict("A different log was already stored with this id.", code=Code.LOG_ID_CONFLICT)
    return stored


def _store(context: _Context, data: SessionLogCreate) -> tuple[SessionLog, bool, SafetyNotice | None]:
    """Store one log; returns (log, created, what the patient must be told). A replay of a stored log
    returns it unchanged, with the notice again (the first answer may never have reached the app)."""
    session, actor = context.session, context.actor
    digest = body_hash(data)
    performed_at = data.performed_at.astimezone(ZoneInfo("UTC"))
    # Nearly every log is new: the ORM row is read only for a replay.
    found = context.read(data.id, data.programme_id, data.item_id, performed_at)
    stored = _existing(session, actor, data, digest) if found.stored else None
    if stored is not None:
        return stored, False, _replayed_notice(context, stored)
    programme, item, category = _target(found)
    if data.revision > programme.revision:
        raise InvalidInput("That revision of the programme does not exist yet.", code=Code.UNKNOWN_REVISION)
    if performed_at > utcnow() + CLOCK_SKEW:
        raise InvalidInput("performed_at is in the future.", code=Code.PERFORMED_IN_FUTURE)
    # Nothing was due before the programme was first activated (a phone's clock may be a little behind).
    if programme.activated_at is None or performed_at < programme.activated_at - CLOCK_SKEW:
        raise Conflict("performed_at is before the programme was activated.", code=Code.BEFORE_ACTIVATION)
    previous = found.previous
    # model_construct: every value was validated as SessionLogCreate or computed here, and a table model's
    # own constructor validates nothing while costing ten times as much.
    log = SessionLog.model_construct(
        **data.model_dump(exclude={"performed_at"}),
        clinic_id=actor.clinic_id,
        patient_id=actor.id,
        performed_at=performed_at,
        utc_offset_minutes=int(data.performed_at.utcoffset().total_seconds() // 60),  # type: ignore[union-attr]
        local_date=performed_at.astimezone(context.timezone).date(),
        colour=symptom_response.colour(data, previous, category),
        body_hash=digest,
    )
    if not _insert_new(session, log):
        # The same id was stored concurrently (a retry racing the original): answer as for a replay.
        stored = _existing(session, actor, data, digest)
        if stored is None:
            raise Conflict(
                "This log id is being stored by another request; retry.", code=Code.LOG_ID_CONFLICT
            )
        return stored, False, _replayed_notice(context, stored)
    audit.record(session, actor, "session_log.create", "session_log", log.id, actor.id)
    events.emit(
        session,
        actor.clinic_id,
        "session.logged",
        {
            "log_id": log.id,
            "patient_id": actor.id,
            "programme_id": programme.id,
            "item_id": item.id,
            "colour": log.colour,
        },
    )
    reasons = symptom_response.red_reasons(data, previous, category)
    notice = None
    read: tuple[ProgrammeFacts, ItemFacts] = (programme, item)
    if reasons:  # a red session changes the programme: the rules take its ORM objects from here on
        orm = programmes.attached(session, programme, item)
        notice = symptom_response.on_red(session, actor, *orm, log, previous, reasons)
        read = orm
    progression.on_log(session, log, *read, category)
    return log, True, notice


def _replayed_notice(context: _Context, log: SessionLog) -> SafetyNotice | None:
    if log.colour != "red":
        return None
    found = context.read(log.id, log.programme_id, log.item_id, log.performed_at)
    programme, item, category = _target(found)
    # Without the extent before the session, spread was judged against the session before: a red log that
    # broke neither other rule spread.
    reasons = symptom_response.red_reasons(log, None, category) or ["leg_symptoms_spread"]
    return symptom_response.notice(context.actor, programme, item, reasons)


def log_one(session: Session, actor: Actor, data: SessionLogCreate) -> tuple[SessionLogPublic, bool]:
    log, created, notice = _store(_Context(session, actor), data)
    return public(log, notice), created


def log_batch(session: Session, actor: Actor, logs: list[SessionLogCreate]) -> list[BatchResult]:
    """Store each log on its own (one bad log does not sink the batch), oldest first so each log's colour
    compares with the session before it; results come back in the order sent."""
    context = _Context(session, actor)
    results: dict[int, BatchResult] = {}
    for index in sorted(range(len(logs)), key=lambda i: logs[i].performed_at):
        data = logs[index]
        try:
            with session.begin_nested():
                log, created, notice = _store(context, data)
            results[index] = BatchResult(id=data.id, status=201 if created else 200, log=public(log, notice))
        except DomainError as exc:
            results[index] = BatchResult(id=data.id, status=exc.status, code=exc.code, detail=exc.detail)
    return [results[index] for index in range(len(logs))]


def list_logs(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    start: date | None,
    end: date | None,
    params: PageParams,
) -> Page[SessionLogPublic]:
    """The patient's logs in the order they were done, optionally within local dates [start, end]."""
    statement = select(SessionLog).where(
        SessionLog.clinic_id == actor.clinic_id, SessionLog.patient_id == patient_id
    )
    if start is not None:
        statement = statement.where(SessionLog.local_date >= start)
    if end is not None:
        statement = statement.where(SessionLog.local_date <= end)
    page = paginate(session, statement, SessionLog.id, params, time_column=SessionLog.performed_at)
    audit.record(session, actor, "session_log.list", "session_log", patient_id=patient_id)
    return page.mapped(lambda rows: [public(row) for row in rows])
