"""When an item is ready to step up, by the kind of chain it is on (clinical-content.md §2.2–2.3).

- Directional-preference and nerve-glide chains: only after sustained improvement — the last sessions
  green (symptoms easing or retreating toward the spine), every session of the last 24 hours green, the
  current dose started at least 24 hours ago, and a next-morning answer in that time that was not worse.
  Force is added by a clinician: these steps are only ever suggested (McKenzie/MDT adds force when
  improvement stalls, which is their judgement).
- Strength, endurance, motor-control, mobility, stretch and walking chains: on stable symptoms — no red
  session, the full dose done, and effort at most CR10 6 ("prescribed sets feel ≤ 5–6", §2.2c).
- Every kind: no worse morning since the first of those sessions (the pain-monitoring model's next-morning
  check; a worse morning is red for progression).
"""

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import and_, bindparam, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from app.db import AnyRow, utcnow
from app.models.next_morning import NextMorningReport
from app.models.programme import ItemFacts, ProgrammeFacts
from app.models.session_log import SessionLog

DIRECTIONAL = ("directional_preference", "neurodynamics")
SUSTAINED = timedelta(hours=24)
EFFORT_LIMIT = 6  # Borg CR10

_REPORTS = NextMorningReport.__table__.c  # type: ignore[attr-defined]
# The next-morning answers for the days of the evidence (built once: it can run after every log).
_MORNINGS = sa_select(_REPORTS.response).where(
    _REPORTS.clinic_id == bindparam("clinic_id"),
    _REPORTS.patient_id == bindparam("patient_id"),
    _REPORTS.session_date >= bindparam("since"),
)


_LOGS = SessionLog.__table__.c  # type: ignore[attr-defined]
_SUSTAINED = sa_select(
    func.min(_LOGS.performed_at),
    func.sum(case((and_(_LOGS.colour != "green", _LOGS.performed_at >= bindparam("since")), 1), else_=0)),
).where(
    _LOGS.clinic_id == bindparam("clinic_id"),
    _LOGS.item_id == bindparam("item_id"),
    _LOGS.revision >= bindparam("dose_revision"),
)


def directional(category: str) -> bool:
    return category in DIRECTIONAL


def dose_done(item: ItemFacts, log: AnyRow) -> bool:
    """The prescribed dose was done. Values the app did not report are not held against the patient."""
    if item.sets is not None and log.sets_done < item.sets:
        return False
    if item.reps is not None and log.reps_done and min(log.reps_done) < item.reps:
        return False
    if item.hold_s is not None and log.hold_s is not None and log.hold_s < item.hold_s:
        return False
    return not (
        item.duration_s is not None and log.duration_s is not None and log.duration_s < item.duration_s
    )


def sessions_ready(item: ItemFacts, recent: Sequence[AnyRow], needed: int, is_directional: bool) -> bool:
    """The item's latest sessions at its dose (newest first) meet the chain's rule."""
    if len(recent) < needed or not all(dose_done(item, log) for log in recent):
        return False
    if is_directional:
        return all(log.colour == "green" for log in recent)
    return all(
        log.colour != "red" and log.effort is not None and log.effort <= EFFORT_LIMIT for log in recent
    )


def sustained(session: Session, programme: ProgrammeFacts, item: ItemFacts) -> bool:
    """Directional chains: the dose started at least 24 hours ago and every session since then is green."""
    params = {
        "clinic_id": programme.clinic_id,
        "item_id": item.id,
        "dose_revision": item.dose_revision,
        "since": utcnow() - SUSTAINED,
    }
    first, not_green = session.connection().execute(_SUSTAINED, params).one()
    return first is not None and first <= params["since"] and not not_green


def mornings_ready(session: Session, programme: ProgrammeFacts, since: date, is_directional: bool) -> bool:
    """No worse morning since `since` (the first evidence session's day); a directional step also needs
    one answer that was not worse."""
    params = {"clinic_id": programme.clinic_id, "patient_id": programme.patient_id, "since": since}
    answers = list(session.connection().scalars(_MORNINGS, params))
    if "worse" in answers:
        return False
    return bool(answers) or not is_directional
