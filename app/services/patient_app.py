"""What the patient app reads: programme snapshots in the patient's language, ready to work offline.

A revision's snapshot never changes, so its rendering for one locale is kept as bytes by (programme id,
revision number, locale): the hot path is then one indexed read of the programme plus the audit write. A
day's plan is kept the same way, by the revision's rendering and everything else it is made of (the day,
the sessions logged that day): its read is the programme's, which also carries the items logged on each
day that can be today somewhere, plus the audit write (app.services.rendered).
"""

import hashlib
import json
import uuid
from collections import Counter
from datetime import date
from typing import Any, NamedTuple

from sqlmodel import Session

from app import store
from app.db import Db
from app.errors import Code, InvalidInput, NotFound
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor, Page
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeSummary
from app.models.programme_view import ProgrammeView
from app.models.safety_text import EMERGENCY_WARNING, LINES, STOP_RULES_INTRO
from app.models.session_log import Plan, PlanItem, ProgressReport, StoppedItem
from app.models.stop_rules import STOP_RULES
from app.services import adherence, audit, auth, conditional, holds, patients, programme_view, programmes
from app.services.pagination import PageParams, paginate
from app.services.rendered import Rendered

_CACHE_SIZE = 2048
# The patient-facing text this service adds to every programme (safety text and stop rules).
TEXT_VERSION = hashlib.sha256(
    json.dumps([LINES, EMERGENCY_WARNING, STOP_RULES_INTRO, STOP_RULES], sort_keys=True).encode()
).hexdigest()[:8]
_views: Rendered[tuple[uuid.UUID, int, str], tuple[ProgrammeView, bytes]] = Rendered(_CACHE_SIZE)
_plans: Rendered[tuple[Any, ...], tuple[Plan, bytes]] = Rendered(_CACHE_SIZE)


def profile(session: Session, actor: Actor) -> Patient:
    patient = patients.get_patient(session, actor, actor.id)
    patients.read_patient(session, actor, patient)
    return patient


def progress(session: Session, actor: Actor) -> ProgressReport:
    return adherence.progress(session, actor, patients.get_patient(session, actor, actor.id))


def patient_locale(actor: Actor) -> str:
    return actor.locale or DEFAULT_LOCALE


def etag(revision: int, locale: str) -> str:
    """The revision, the language and the version of the service's own text: a safety wording fix reaches
    an app holding the revision offline."""
    return f'"{revision}.{locale}.{TEXT_VERSION}"'


def list_mine(session: Session, actor: Actor, params: PageParams) -> Page[ProgrammeSummary]:
    page = paginate(session, programmes.scoped(actor), Programme.id, params)
    audit.record(session, actor, "programme.list", "programme", patient_id=actor.id)
    return page.mapped(
        lambda rows: [ProgrammeSummary.model_validate(row, from_attributes=True) for row in rows]
    )


def _view(db: Db, programme: store.MyProgramme, locale: str) -> tuple[ProgrammeView, bytes]:
    """The rendered current revision, as a ProgrammeView and as its response bytes (kept: revisions never
    change)."""

    def render() -> tuple[ProgrammeView, bytes]:
        snapshot = store.revision_snapshot(db, programme.clinic_id, programme.id, programme.revision)
        view = programme_view.render(snapshot, locale)
        return view, view.model_dump_json().encode()

    return _views.get((programme.id, programme.revision, locale), render)


class PatientRead(NamedTuple):
    """A patient-app read: the read connection it runs on, its caller, checked against the database on
    that connection, the programme it reads (None when the patient has no such programme) and, for the
    current programme, the items logged for it on each local day that can be today somewhere."""

    db: Db
    actor: Actor
    programme: store.MyProgramme | None
    logged: dict[date, list[uuid.UUID]]


def caller_with_programme(
    db: Db, programme_id: uuid.UUID | None, patient_id: uuid.UUID, clinic_id: uuid.UUID, generation: int
) -> PatientRead:
    """The caller of a patient token with these claims, checked as on every patient route, and in the same
    statement the programme the route reads: `programme_id` of theirs, or for None their current one with
    the items logged on the days that can be today."""
    caller, programme, logged = store.caller_and_programme(db, patient_id, programme_id)
    return PatientRead(db, auth.checked_patient(caller, patient_id, clinic_id, generation), programme, logged)


def read_mine(read: PatientRead, if_none_match: str | None) -> tuple[str, bytes | None]:
    """The programme's ETag and its rendering in the patient's language; no body when If-None-Match
    already names this ETag. Either way the read is audited: a 304 shows the patient had it in hand."""
    db, actor, programme, _ = read
    if programme is None:
        raise NotFound("No such programme.")
    locale = patient_locale(actor)
    tag = etag(programme.revision, locale)
    audit.record(db, actor, "programme.read", "programme", programme.id, actor.id)
    if conditional.none_match(if_none_match, tag):
        return tag, None
    return tag, _view(db, programme, locale)[1]


def plan(read: PatientRead, day: date | None) -> tuple[Plan, bytes]:
    """One local day of the current programme: each item's dose, sessions due and done, and what is next;
    as a Plan and as its response bytes."""
    db, actor, programme, logged_on = read
    timezone = actor.timezone or "UTC"
    today = adherence.today(timezone)
    day = day or today
    if abs((day - today).days) > adherence.MAX_WINDOW_DAYS:
        raise InvalidInput("Ask for a date within a year of today.", code=Code.INVALID_DATE)
    audit.record(db, actor, "plan.read", "patient", actor.id, actor.id)
    locale = patient_locale(actor)
    if programme is None:
        # No programme to carry the hold (a clinician closed it): the open alert still says what to do.
        alert = holds.holding_alert(db, actor.clinic_id, actor.id)
        hold = {"tier": alert.tier, "since": alert.created_at} if alert is not None else None
        empty = Plan(
            date=day,
            timezone=timezone,
            programme_id=None,
            programme_status=None,
            revision=None,
            phase=None,
            items=[],
            next_item_id=None,
            safety_hold=programme_view.hold_notice(hold, locale),
        )
        return empty, empty.model_dump_json().encode()
    view, _ = _view(db, programme, locale)
    # Nothing is due before the local day of the first activation (adherence agrees: no revision in force
    # was active then).
    activated = programme.activated_at
    due_today = bool(activated) and day >= adherence.today(timezone, activated)
    # The day's logs came with the caller, unless the day asked for cannot be today anywhere.
    logged_items = logged_on.get(day)
    if logged_items is None:
        logged_items = store.items_logged_on(db, actor.clinic_id, actor.id, programme.id, day)
    logged = Counter(logged_items)
    # Everything the day's plan is made of. The programme (the patient's own) and its revision name the
    # view: the doses, the stopped items and the safety hold are in the revision's snapshot.
    inputs = (programme.id, programme.revision, programme.status, locale, timezone, day, due_today)
    key = (*inputs, *sorted(logged.items()))

    def render() -> tuple[Plan, bytes]:
        made = _plan(view, programme, day, timezone, due_today, logged)
        return made, made.model_dump_json().encode()

    return _plans.get(key, render)


def _plan(
    view: ProgrammeView,
    programme: store.MyProgramme,
    day: date,
    timezone: str,
    due_today: bool,
    logged: Counter[uuid.UUID],
) -> Plan:
    due = adherence.due_on(_schedule(view), day) if due_today else {}
    items: list[PlanItem] = []
    stopped: list[StoppedItem] = []
    for item in view.phases[view.current_phase].items:
        if item.stopped is not None:
            stopped.append(
                StoppedItem(
                    item_id=item.id,
                    exercise_name=item.exercise.name,
                    since=item.stopped.since,
                    reasons=item.stopped.reasons,
                    message=item.stopped.message,
                )
            )
            continue
        sessions_due = due.get(str(item.id), 0)
        sessions_done = min(logged.get(item.id, 0), sessions_due)
        items.append(
            PlanItem(
                item_id=item.id,
                exercise=item.exercise,
                sets=item.sets,
                reps=item.reps,
                reps_max=item.reps_max,
                hold_s=item.hold_s,
                rest_s=item.rest_s,
                duration_s=item.duration_s,
                load=item.load,
                side=item.side,
                notes=item.notes,
                sessions_due=sessions_due,
                sessions_done=sessions_done,
                sessions_remaining=sessions_due - sessions_done,
            )
        )
    return Plan(
        date=day,
        timezone=timezone,
        programme_id=programme.id,
        programme_status=programme.status,
        revision=programme.revision,
        phase=view.current_phase,
        items=items,
        next_item_id=next((item.item_id for item in items if item.sessions_remaining > 0), None),
        stopped=stopped,
        safety_hold=view.safety_hold,
    )


def _schedule(view: ProgrammeView) -> dict[str, Any]:
    """The view's schedule in the shape adherence reads (a revision's stored schedule)."""
    return {
        "status": view.status,
        "start_date": view.start_date.isoformat(),
        "end_date": view.end_date.isoformat() if view.end_date else None,
        "current_phase": view.current_phase,
        "items": [
            {
                "id": item.id,
                "phase": phase.position,
                "times_per_day": item.times_per_day,
                "days_of_week": item.days_of_week,
            }
            for phase in view.phases
            for item in phase.items
        ],
    }
