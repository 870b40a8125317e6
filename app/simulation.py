"""Play a synthetic patient's weeks of sessions through a programme, on the real services and rules.

The clock is simulated (`app.context.simulated_now_var`), so six weeks run in seconds and every row gets the
time it would have had. `hep simulate` uses this on a throw-away database; the scenario tests use it too.

A driver beside the CLI, not a service: it plays the part of the patient app and the clinic, calling the
services as their requests would, so it owns its units of work as the CLI does: the set-up is one, and
each simulated day (the morning's answer and the day's sessions) another, committed at the day's end.
"""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.context import simulated_now_var
from app.models.common import Actor
from app.models.next_morning import NextMorningUpsert
from app.models.patient import PatientCreate
from app.models.programme import Programme, ProgrammeRevision
from app.models.programme_document import DOSE_NUMBERS, ProgrammeCreate
from app.models.progression import ProgressionSuggestion
from app.models.safety import SafetyAlert
from app.models.session_log import SessionLogCreate
from app.services import next_morning, patient_app, patients, programmes, sessions

# What the patient reports after one session: None means the session was skipped.
Pattern = Callable[[int, str, int], dict[str, Any] | None]
# The next-morning answer (better, same, worse) for day n's sessions; None: not answered.
Mornings = Callable[[int], str | None]

GREEN = {"response": "better", "leg_symptoms": "none", "pain_during": 2, "pain_after": 1, "effort": 4}
SAME = {"response": "same", "leg_symptoms": "none", "pain_during": 3, "pain_after": 2, "effort": 4}
HARD = {**SAME, "effort": 8}
RED = {"response": "worse", "leg_symptoms": "below_knee", "pain_during": 6, "pain_after": 5, "effort": 5}
# Leg symptoms retreating toward the spine within each session: centralisation.
CENTRALISING = {**GREEN, "leg_symptoms_before": "thigh", "leg_symptoms": "buttock", "leg_side": "left"}

PATTERNS: dict[str, tuple[str, Pattern, Mornings | None]] = {
    "steady": ("every session done, symptoms easing", lambda day, slug, n: GREEN, lambda day: "better"),
    "directional-responder": (
        "leg symptoms centralise in every session, mornings better",
        lambda day, slug, n: CENTRALISING,
        lambda day: "better",
    ),
    "strength-stable": (
        "every session done, symptoms unchanged, effort moderate (CR10 4)",
        lambda day, slug, n: SAME,
        lambda day: "same",
    ),
    "plateau": (
        "every session done, no change in symptoms, sessions feel hard (CR10 8)",
        lambda day, slug, n: HARD,
        lambda day: "same",
    ),
    "worse-next-morning": (
        "sessions go well but the mornings after days 3 and 4 are worse",
        lambda day, slug, n: GREEN,
        lambda day: "worse" if day in (3, 4) else "same",
    ),
    "flare": (
        "steady, then leg symptoms spread on days 15 and 16",
        lambda day, slug, n: RED if day in (15, 16) else GREEN,
        lambda day: "better",
    ),
    "low-adherence": (
        "symptoms easing but only every third day",
        lambda day, slug, n: GREEN if day % 3 == 0 else None,
        None,
    ),
}


@contextmanager
def clock(at: datetime) -> Iterator[None]:
    token = simulated_now_var.set(at)
    try:
        yield
    finally:
        simulated_now_var.reset(token)


@dataclass
class RevisionLine:
    number: int
    day: int
    reason: str
    changes: list[str]


def example_programme(start: datetime) -> ProgrammeCreate:
    """A plausible extension-preference programme with progression rules on every item."""
    rule = {"variable": "reps", "step": 2, "ceiling": 14, "sessions_needed": 2, "at_ceiling": "advance"}
    return ProgrammeCreate.model_validate(
        {
            "title": "Low back pain, extension preference (simulated)",
            "start_date": start.date(),
            "auto_progress": "auto",
            "phases": [
                {
                    "name": "Settle and activate",
                    "advance_criteria": {"min_days": 14, "green_streak": 4, "min_adherence_pct": 70},
                    "items": [
                        {
                            "exercise": "prone-press-up",
                            "sets": 1,
                            "reps": 10,
                            "times_per_day": 3,
                            "progression_rule": {**rule, "ceiling": 12},
                        },
                        {
                            "exercise": "double-leg-bridge",
                            "sets": 2,
                            "reps": 10,
                            "hold_s": 3,
                            "days_of_week": [1, 3, 5],
                            "progression_rule": rule,
                        },
                    ],
                },
                {
                    "name": "Build endurance",
                    "items": [
                        {
                            "exercise": "bird-dog",
                            "sets": 1,
                            "reps": 10,
                            "hold_s": 5,
                            "progression_rule": {
                                "variable": "hold_s",
                                "step": 2,
                                "ceiling": 10,
                                "at_ceiling": "hold",
                            },
                        },
                        {
                            "exercise": "knee-plank",
                            "reps": 4,
                            "hold_s": 10,
                            "progression_rule": {
                                "variable": "hold_s",
                                "step": 5,
                                "ceiling": 45,
                                "at_ceiling": "advance",
                            },
                        },
                    ],
                },
            ],
        }
    )


def run(
    session: Session,
    clinic_id: uuid.UUID,
    document: ProgrammeCreate,
    pattern: Pattern,
    days: int,
    start: datetime,
    on_day: Callable[[int, Programme], None] | None = None,
    mornings: Mornings | None = None,
) -> tuple[Programme, list[RevisionLine]]:
    """Create a patient and the programme, activate it, then log every due session `days` days long."""
    staff = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic_id)
    with clock(start):
        patient = patients.create_patient(session, staff, PatientCreate(display_name="Simulated patient"))
        programme = programmes.create_programme(session, staff, patient, document)
        programmes.transition(session, staff, programme, "activate", None)
        session.commit()
    me = Actor(kind="patient", id=patient.id, clinic_id=clinic_id)
    for day in range(days):
        moment = datetime.combine(start.date() + timedelta(days=day), time(8), start.tzinfo)
        answer = mornings(day - 1) if mornings is not None and day > 0 else None
        if answer is not None:
            with clock(moment - timedelta(hours=1)):
                yesterday = moment.date() - timedelta(days=1)
                next_morning.report(session, me, yesterday, NextMorningUpsert(response=answer))
        with clock(moment):
            read = patient_app.caller_with_programme(
                session, None, patient.id, clinic_id, patient.session_generation
            )
            plan, _ = patient_app.plan(read, None)
        for item in plan.items:
            for n in range(item.sessions_due):
                report = pattern(day, item.exercise.slug, n)
                moment += timedelta(minutes=30)
                if report is None:
                    continue
                with clock(moment):
                    sessions.log_one(session, me, _log(plan, item, moment, report))
        session.commit()
        if on_day:
            on_day(day, programme)
    session.refresh(programme)
    lines = history(session, programme, start)
    session.commit()  # end the read: an open transaction would hold SQLite's write lock
    return programme, lines


def _log(plan: Any, item: Any, moment: datetime, report: dict[str, Any]) -> SessionLogCreate:
    sets = report.get("sets_done", item.sets or 1)
    done = {
        "sets_done": sets,
        "reps_done": [item.reps] * sets if item.reps else [],
        "hold_s": item.hold_s,
        "duration_s": item.duration_s,
    }
    return SessionLogCreate(
        id=uuid.uuid4(),
        programme_id=plan.programme_id,
        item_id=item.item_id,
        revision=plan.revision,
        performed_at=moment,
        **{**done, **report},
    )


def history(session: Session, programme: Programme, start: datetime) -> list[RevisionLine]:
    revisions = session.exec(
        select(ProgrammeRevision)
        .where(
            ProgrammeRevision.clinic_id == programme.clinic_id, ProgrammeRevision.programme_id == programme.id
        )
        .order_by(col(ProgrammeRevision.number))
    ).all()
    lines, previous = [], None
    for revision in revisions:
        current = revision.snapshot["programme"]
        lines.append(
            RevisionLine(
                number=revision.number,
                day=(revision.created_at.date() - start.date()).days,
                reason=revision.reason,
                changes=describe(previous, current),
            )
        )
        previous = current
    return lines


def describe(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What changed between two revisions, in words a clinician reads at a glance."""
    if before is None:
        return [f"created ({len(after['phases'])} phases)"]
    changes = []
    if before["status"] != after["status"]:
        changes.append(f"status {before['status']} → {after['status']}")
    if before["current_phase"] != after["current_phase"]:
        name = after["phases"][after["current_phase"]]["name"]
        changes.append(f"phase {before['current_phase'] + 1} → {after['current_phase'] + 1} ({name})")
    old_items = {item["id"]: item for phase in before["phases"] for item in phase["items"]}
    for phase in after["phases"]:
        for item in phase["items"]:
            old = old_items.get(item["id"])
            if old is None:
                continue
            if old["exercise_slug"] != item["exercise_slug"]:
                changes.append(f"{old['exercise_slug']} → {item['exercise_slug']}")
            for key in DOSE_NUMBERS:
                if old[key] != item[key] and old["exercise_slug"] == item["exercise_slug"]:
                    changes.append(f"{item['exercise_slug']}: {key} {old[key]} → {item[key]}")
            stopped, was_stopped = item.get("suspension"), old.get("suspension")
            if stopped and not was_stopped:
                changes.append(f"{item['exercise_slug']} stopped ({', '.join(stopped['reasons'])})")
            elif was_stopped and not stopped:
                changes.append(f"{item['exercise_slug']} reinstated")
    return changes


def waiting(session: Session, programme: Programme) -> list[str]:
    """Proposals the rules could not apply on their own (a locked next step, or suggest mode)."""
    pending = session.exec(
        select(ProgressionSuggestion)
        .where(
            ProgressionSuggestion.clinic_id == programme.clinic_id,
            ProgressionSuggestion.programme_id == programme.id,
            ProgressionSuggestion.status == "pending",
        )
        .order_by(col(ProgressionSuggestion.id))
    ).all()
    return [_proposal(suggestion) for suggestion in pending]


def alerts(session: Session, programme: Programme, start: datetime) -> list[str]:
    """The alerts the run raised for the clinician, by day."""
    raised = session.exec(
        select(SafetyAlert)
        .where(SafetyAlert.clinic_id == programme.clinic_id, SafetyAlert.patient_id == programme.patient_id)
        .order_by(col(SafetyAlert.created_at), col(SafetyAlert.id))
    ).all()
    return [
        f"day {(alert.created_at.date() - start.date()).days}: {alert.tier} ({', '.join(alert.reasons)})"
        for alert in raised
    ]


def _proposal(suggestion: ProgressionSuggestion) -> str:
    change = suggestion.change
    if suggestion.kind == "phase":
        return f"{suggestion.direction}: phase {change['phase_from'] + 1} → {change['phase_to'] + 1}"
    if suggestion.kind == "exercise":
        locked = " (needs a clinician's unlock)" if change["requires_clinician_unlock"] else ""
        return f"{suggestion.direction}: {change['exercise_from']} → {change['exercise_to']}{locked}"
    return f"{suggestion.direction}: {change['variable']} {change['from']} → {change['to']}"
