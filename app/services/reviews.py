"""Review prompts: routine alerts that send a patient back to the clinician when home practice stalls.

Each prompt is raised once for its subject (an item at one dose, a run of worse mornings), never one a day:
its `review_key` is unique per clinic, so a second evaluation, or two requests at once, find it there.

- No change in 48 h on a directional-preference exercise (clinical-content.md §2.4: wrong direction, or the
  wrong classification): every session at the current dose yellow for at least 48 hours.
- No green session and no change of dose for the clinic's `review_after_days` (default 14).
- Worse mornings twice in a row (the stop rule the patient reads): app.services.next_morning.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import ScalarSelect, bindparam, case, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.db import utcnow
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.exercise import Exercise
from app.models.programme import ItemFacts, Programme, ProgrammeFacts, ProgrammeItem
from app.models.safety import AlertSource, SafetyAlert
from app.models.session_log import SessionLog
from app.query import Query
from app.services import pacing, safety, suggestions

DIRECTIONAL_REVIEW_AFTER = timedelta(hours=48)

_LOGS = SessionLog.__table__.c  # type: ignore[attr-defined]
_ALERTS = SafetyAlert.__table__.c  # type: ignore[attr-defined]
_CLINICS = Clinic.__table__.c  # type: ignore[attr-defined]


def _key_raised(name: str) -> ScalarSelect[int]:
    return (
        sa_select(func.count())
        .where(_ALERTS.clinic_id == bindparam("clinic_id"), _ALERTS.review_key == bindparam(name))
        .scalar_subquery()
    )


# Everything the item's review prompts need, in one statement (it runs after every yellow log): its
# sessions at the current dose summed up, the clinic's setting, and whether each prompt was raised before.
_AT_DOSE = Query(
    sa_select(
        func.min(_LOGS.performed_at),
        func.sum(case((_LOGS.colour == "green", 1), else_=0)),
        func.sum(case((_LOGS.colour == "red", 1), else_=0)),
        sa_select(_CLINICS.review_after_days).where(_CLINICS.id == bindparam("clinic_id")).scalar_subquery(),
        _key_raised("no_change_key"),
        _key_raised("no_progress_key"),
    ).where(
        _LOGS.clinic_id == bindparam("clinic_id"),
        _LOGS.item_id == bindparam("item_id"),
        _LOGS.revision >= bindparam("dose_revision"),
    )
)


def raise_once(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    key: str,
    reasons: list[str],
    evidence: list[str],
    source: AlertSource = "review",
    known_new: bool = False,
    programme_id: uuid.UUID | None = None,
    item_id: uuid.UUID | None = None,
) -> SafetyAlert | None:
    """A routine alert for the clinician, unless one with this key was raised before (resolved or not).
    `known_new`: the caller has just read that it was not (it skips that read)."""
    if not known_new and raised(session, actor.clinic_id, key):
        return None
    try:
        with session.begin_nested():
            alert = safety.raise_alert(
                session, actor, patient_id, "routine", reasons, evidence, source, programme_id, item_id
            )
            alert.review_key = key
            session.add(alert)
            session.flush()
    except IntegrityError:  # raised at the same moment by another request
        return None
    return alert


def raised(session: Session, clinic_id: uuid.UUID, key: str) -> bool:
    found = session.exec(
        select(SafetyAlert.id).where(SafetyAlert.clinic_id == clinic_id, SafetyAlert.review_key == key)
    ).first()
    return found is not None


def after_log(
    session: Session,
    actor: Actor,
    programme: ProgrammeFacts,
    item: ItemFacts,
    log: SessionLog,
    directional: bool,
) -> None:
    """After a yellow session: has the item stalled long enough to ask the clinician to review it?"""
    _review_item(session, actor, programme, item, directional, [str(log.id)], utcnow())


def review_stalled(
    session: Session, clinic_id: uuid.UUID, now: datetime, patient_ids: list[uuid.UUID]
) -> int:
    """The daily review (a periodic job): the same prompts for the items of active programmes that have
    had no session since, so an item the patient stopped logging is reviewed too. Returns how many were
    raised."""
    rows = session.exec(
        select(Programme, ProgrammeItem, Exercise.category)
        .join(ProgrammeItem, col(ProgrammeItem.programme_id) == Programme.id)
        .join(Exercise, col(Exercise.id) == ProgrammeItem.exercise_id)
        .where(
            Programme.clinic_id == clinic_id,
            Programme.status == "active",
            col(Programme.patient_id).in_(patient_ids),
            ProgrammeItem.clinic_id == clinic_id,
            col(ProgrammeItem.phase_position) == Programme.current_phase,
            col(ProgrammeItem.removed_at).is_(None),
        )
        .order_by(col(ProgrammeItem.id))
    ).all()
    raised_count = 0
    for programme, item, category in rows:
        if item.suspension is not None:  # stopped: a clinician reviews it already
            continue
        actor = suggestions.system_actor(programme)
        raised_count += _review_item(session, actor, programme, item, pacing.directional(category), [], now)
    return raised_count


def _review_item(
    session: Session,
    actor: Actor,
    programme: ProgrammeFacts,
    item: ItemFacts,
    directional: bool,
    evidence: list[str],
    now: datetime,
) -> int:
    no_change_key = f"no_change_48h:{item.id}:{item.dose_revision}"
    no_progress_key = f"no_progress:{item.id}:{item.dose_revision}"
    params = {
        "clinic_id": programme.clinic_id,
        "item_id": item.id,
        "dose_revision": item.dose_revision,
        "no_change_key": no_change_key,
        "no_progress_key": no_progress_key,
    }
    # One row whatever the logs: the sums of no rows are NULL.
    (row,) = _AT_DOSE.all(session.connection(), params)
    first, greens, reds, days, no_change_raised, no_progress_raised = row
    if first is None or greens:
        return 0
    waited = now - first
    prompts = []
    if directional and not reds and not no_change_raised and waited >= DIRECTIONAL_REVIEW_AFTER:
        prompts.append((no_change_key, ["no_change_48h"]))
    if not no_progress_raised and waited >= timedelta(days=days):
        prompts.append((no_progress_key, [f"no_green_{days}_days"]))
    raised_count = 0
    for key, reasons in prompts:
        alert = raise_once(
            session,
            actor,
            programme.patient_id,
            key,
            reasons,
            evidence,
            known_new=True,
            programme_id=programme.id,
            item_id=item.id,
        )
        raised_count += alert is not None
    return raised_count
