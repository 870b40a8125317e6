"""What the patient app reads: programme snapshots in the patient's language, ready to work offline.

A revision's snapshot never changes, so its rendering for one locale is cached as bytes by
(programme id, revision number, locale): the hot path is then one indexed read of the programme plus the
audit write.
"""

import hashlib
import json
import uuid
from collections import Counter, OrderedDict
from datetime import date
from threading import Lock
from typing import Any

from sqlalchemy import Row, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session

from app.errors import InvalidInput
from app.models import dose_words
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor, Page
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeSummary
from app.models.safety_text import (
    EMERGENCY_WARNING,
    LINES,
    STOP_RULES_INTRO,
    emergency_warning,
    lines,
    localised,
)
from app.models.session_log import Plan, PlanItem, ProgressReport, SessionLog, StoppedItem
from app.models.stop_rules import STOP_RULES
from app.services import adherence, audit, holds, patients, programmes, red_flags
from app.services.pagination import PageParams, paginate

_CACHE_SIZE = 2048
# The patient-facing text this service adds to every programme (safety text and stop rules).
TEXT_VERSION = hashlib.sha256(
    json.dumps([LINES, EMERGENCY_WARNING, STOP_RULES_INTRO, STOP_RULES], sort_keys=True).encode()
).hexdigest()[:8]
PROGRAMME_FIELDS = ("id", "title", "status", "start_date", "end_date", "current_phase", "revision")
PLAN_DOSE_FIELDS = ("sets", "reps", "reps_max", "hold_s", "rest_s", "duration_s", "load", "side", "notes")
_rendered: "OrderedDict[tuple[uuid.UUID, int, str], tuple[dict[str, Any], bytes]]" = OrderedDict()
_lock = Lock()
_LOGS = SessionLog.__table__.c  # type: ignore[attr-defined]
_ITEMS_LOGGED_ON = sa_select(_LOGS.item_id).where(
    _LOGS.clinic_id == bindparam("clinic_id"),
    _LOGS.patient_id == bindparam("patient_id"),
    _LOGS.programme_id == bindparam("programme_id"),
    _LOGS.local_date == bindparam("day"),
)


def profile(session: Session, actor: Actor) -> Patient:
    patient = patients.get_patient(session, actor, actor.id)
    patients.read_patient(session, actor, patient)
    return patient


def progress(session: Session, actor: Actor) -> ProgressReport:
    return adherence.progress(session, actor, patients.get_patient(session, actor, actor.id))


def patient_locale(actor: Actor) -> str:
    return actor.locale or DEFAULT_LOCALE


def etag(programme: Row[Any], locale: str) -> str:
    """The revision, the language and the version of the service's own text: a safety wording fix reaches
    an app holding the revision offline."""
    return f'"{programme.revision}.{locale}.{TEXT_VERSION}"'


def list_mine(session: Session, actor: Actor, params: PageParams) -> Page[ProgrammeSummary]:
    page = paginate(session, programmes.scoped(actor), Programme.id, params)
    audit.record(session, actor, "programme.list", "programme", patient_id=actor.id)
    return page.mapped(
        lambda rows: [ProgrammeSummary.model_validate(row, from_attributes=True) for row in rows]
    )


def render(snapshot: dict[str, Any], locale: str) -> dict[str, Any]:
    """The patient's view of one revision: doses, and each exercise's text, media and stop rules."""
    programme = snapshot["programme"]
    exercises = snapshot["exercises"]

    def exercise_view(item: dict[str, Any]) -> dict[str, Any]:
        """The exercise's text in the patient's language, its dose words filled from this item's
        prescription (never the catalogue's default dose)."""
        by_locale = exercises[str(item["exercise_id"])]
        chosen = by_locale.get(locale) or by_locale[DEFAULT_LOCALE]
        text_locale = chosen["locale"]
        view = {
            key: chosen[key] for key in ("id", "slug", "locale", "name", "media", "stop_rules", "position")
        }
        view["summary"] = dose_words.fill(chosen["summary"], item, text_locale)
        view["steps"] = [dose_words.fill(step, item, text_locale) for step in chosen["steps"]]
        view["cautions"] = [dose_words.fill(caution, item, text_locale) for caution in chosen["cautions"]]
        return view

    body = {
        **{
            key: programme[key]
            for key in ("id", "title", "status", "start_date", "end_date", "current_phase", "revision")
        },
        "locale": locale,
        "safety": {
            "emergency_warning": emergency_warning(locale),
            "stop_rules_intro": localised(STOP_RULES_INTRO, locale),
        },
        "safety_hold": _hold_view(programme.get("safety_hold"), locale),
        "phases": [
            {
                "position": phase["position"],
                "name": phase["name"],
                "goal": phase["goal"],
                "items": [
                    {
                        **{
                            key: item[key]
                            for key in (
                                "id",
                                "position",
                                "sets",
                                "reps",
                                "reps_max",
                                "hold_s",
                                "rest_s",
                                "duration_s",
                                "load",
                                "side",
                                "times_per_day",
                                "days_of_week",
                                "notes",
                            )
                        },
                        "dose_text": dose_words.dose_sentence(item, locale),
                        "exercise": exercise_view(item),
                        "stopped": _stopped_view(item.get("suspension"), locale),
                    }
                    for item in phase["items"]
                ],
            }
            for phase in programme["phases"]
        ],
    }
    return body


def _hold_view(hold: dict[str, Any] | None, locale: str) -> dict[str, Any] | None:
    """A programme on a safety hold says so, and repeats what the patient was told to do."""
    if hold is None:
        return None
    return {
        "tier": hold["tier"],
        "since": hold["since"],
        "instruction": red_flags.hold_lines(hold["tier"], locale),
    }


def _stopped_view(suspension: dict[str, Any] | None, locale: str) -> dict[str, Any] | None:
    """An exercise stopped after a red session: since when, why, and what happens next."""
    if suspension is None:
        return None
    return {
        "since": suspension["since"],
        "reasons": suspension["reasons"],
        "message": lines(["exercise_stopped", "exercise_stopped_why"], locale),
    }


def _view(session: Session, programme: Row[Any], locale: str) -> tuple[dict[str, Any], bytes]:
    """The rendered current revision, as a dict and as response bytes (cached: revisions never change)."""
    key = (programme.id, programme.revision, locale)
    with _lock:
        cached = _rendered.get(key)
        if cached is not None:
            _rendered.move_to_end(key)
            return cached
    view = render(programmes.latest_revision(session, programme).snapshot, locale)
    rendered = (view, json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode())
    with _lock:
        _rendered[key] = rendered
        if len(_rendered) > _CACHE_SIZE:
            _rendered.popitem(last=False)
    return rendered


def read_mine(
    session: Session, actor: Actor, programme_id: uuid.UUID, if_none_match: str | None
) -> tuple[str, bytes | None]:
    """The programme's ETag and its rendering in the patient's language; no body when If-None-Match
    already names this ETag. Either way the read is audited: a 304 shows the patient had it in hand."""
    programme = programmes.my_programme(session, actor, programme_id)
    locale = patient_locale(actor)
    tag = etag(programme, locale)
    audit.record(session, actor, "programme.read", "programme", programme.id, actor.id)
    if if_none_match is not None and tag in (t.strip() for t in if_none_match.split(",")):
        return tag, None
    return tag, _view(session, programme, locale)[1]


def plan(session: Session, actor: Actor, day: date | None) -> Plan:
    """One local day of the current programme: each item's dose, sessions due and done, and what is next."""
    timezone = actor.timezone or "UTC"
    today = adherence.today(timezone)
    day = day or today
    if abs((day - today).days) > adherence.MAX_WINDOW_DAYS:
        raise InvalidInput("Ask for a date within a year of today.", code="invalid_date")
    audit.record(session, actor, "plan.read", "patient", actor.id, actor.id)
    programme = programmes.my_current_programme(session, actor)
    if programme is None:
        # No programme to carry the hold (a clinician closed it): the open alert still says what to do.
        alert = holds.holding_alert(session, actor.clinic_id, actor.id)
        hold = {"tier": alert.tier, "since": alert.created_at.isoformat()} if alert is not None else None
        return Plan(
            date=day,
            timezone=timezone,
            programme_id=None,
            programme_status=None,
            revision=None,
            phase=None,
            items=[],
            next_item_id=None,
            safety_hold=_hold_view(hold, patient_locale(actor)),
        )
    view, _ = _view(session, programme, patient_locale(actor))
    schedule = {
        **view,
        "items": [
            {**item, "phase": phase["position"]} for phase in view["phases"] for item in phase["items"]
        ],
    }
    # Nothing is due before the local day of the first activation (adherence agrees: no revision in force
    # was active then).
    activated = programme.activated_at
    due = adherence.due_on(schedule, day) if activated and day >= adherence.today(timezone, activated) else {}
    # Counted here rather than with GROUP BY item_id: that GROUP BY led SQLite's planner (without ANALYZE
    # statistics) to the (clinic_id, item_id, performed_at) index, reading the whole clinic's logs.
    logged = Counter(
        session.connection().scalars(
            _ITEMS_LOGGED_ON,
            {"clinic_id": actor.clinic_id, "patient_id": actor.id, "programme_id": programme.id, "day": day},
        )
    )
    items, stopped = [], []
    for item in view["phases"][view["current_phase"]]["items"]:
        if item["stopped"] is not None:
            stopped.append(
                StoppedItem(item_id=item["id"], exercise_name=item["exercise"]["name"], **item["stopped"])
            )
            continue
        sessions_due = due.get(item["id"], 0)
        sessions_done = min(logged.get(uuid.UUID(item["id"]), 0), sessions_due)
        items.append(
            PlanItem(
                item_id=item["id"],
                exercise=item["exercise"],
                **{key: item[key] for key in PLAN_DOSE_FIELDS},
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
        phase=view["current_phase"],
        items=items,
        next_item_id=next((item.item_id for item in items if item.sessions_remaining > 0), None),
        stopped=stopped,
        safety_hold=view["safety_hold"],
    )
