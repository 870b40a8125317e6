"""What the patient app reads: programme snapshots in the patient's language, ready to work offline.

A revision's snapshot never changes, so its rendering for one locale is cached as bytes by
(programme id, revision number, locale): the hot path is then one indexed read of the programme plus the
audit write.
"""

import json
import uuid
from collections import OrderedDict
from threading import Lock
from typing import Any

from sqlmodel import Session

from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeSummary
from app.models.safety import EMERGENCY_WARNING, STOP_RULES_INTRO, localised
from app.services import audit, programmes

_CACHE_SIZE = 2048
_rendered: "OrderedDict[tuple[uuid.UUID, int, str], bytes]" = OrderedDict()
_lock = Lock()


def patient_locale(session: Session, actor: Actor) -> str:
    patient = session.get(Patient, actor.id)  # already in the session: authentication loaded it
    return patient.locale if patient is not None else DEFAULT_LOCALE


def etag(programme: Programme, locale: str) -> str:
    return f'"{programme.revision}.{locale}"'


def list_mine(session: Session, actor: Actor) -> list[ProgrammeSummary]:
    rows = session.exec(programmes.scoped(actor).order_by(Programme.id)).all()
    audit.record(session, actor, "programme.list", "programme", patient_id=actor.id)
    return [ProgrammeSummary.model_validate(row, from_attributes=True) for row in rows]


def render(snapshot: dict[str, Any], locale: str) -> bytes:
    """The patient's view of one revision: doses, and each exercise's text, media and stop rules."""
    programme = snapshot["programme"]
    exercises = snapshot["exercises"]

    def exercise_view(exercise_id: str) -> dict[str, Any]:
        by_locale = exercises[exercise_id]
        chosen = by_locale.get(locale) or by_locale[DEFAULT_LOCALE]
        return {
            key: chosen[key]
            for key in (
                "id",
                "slug",
                "locale",
                "name",
                "summary",
                "steps",
                "cautions",
                "media",
                "stop_rules",
                "position",
            )
        }

    body = {
        **{
            key: programme[key]
            for key in ("id", "title", "status", "start_date", "end_date", "current_phase", "revision")
        },
        "locale": locale,
        "safety": {
            "emergency_warning": localised(EMERGENCY_WARNING, locale),
            "stop_rules_intro": localised(STOP_RULES_INTRO, locale),
        },
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
                        "exercise": exercise_view(str(item["exercise_id"])),
                    }
                    for item in phase["items"]
                ],
            }
            for phase in programme["phases"]
        ],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def read_mine(session: Session, actor: Actor, programme: Programme, locale: str) -> bytes:
    audit.record(session, actor, "programme.read", "programme", programme.id, actor.id)
    key = (programme.id, programme.revision, locale)
    with _lock:
        cached = _rendered.get(key)
        if cached is not None:
            _rendered.move_to_end(key)
            return cached
    body = render(programmes.latest_revision(session, programme).snapshot, locale)
    with _lock:
        _rendered[key] = body
        if len(_rendered) > _CACHE_SIZE:
            _rendered.popitem(last=False)
    return body


def record_not_modified(session: Session, actor: Actor, programme: Programme) -> None:
    """A 304 still shows the patient had the programme in hand: audit it like a read."""
    audit.record(session, actor, "programme.read", "programme", programme.id, actor.id)
