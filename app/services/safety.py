"""Symptom check-ins, safety alerts and the safety hold.

A check-in is assessed first (app.services.red_flags, pure); then the check, its alert and audit row, and
the hold are stored in a unit of work of their own, committed before the answer is written: the answer is
the advice whether or not storing worked, so the record cannot wait for the request's unit (whose commit
failing would leave an answer claiming what did not happen). The hold is placed in a savepoint of that
unit, so a hold that cannot be placed never loses the alert; the instruction only claims what actually
happened. An open emergency or urgent
alert puts the patient's programmes on a safety hold: they are paused, cannot be resumed or activated
(app.services.programmes refuses), and show the patient why, until a clinician resolves the alert with a
note.
"""

import logging
import uuid

from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Code, Conflict
from app.models.common import Actor
from app.models.patient import Patient
from app.models.programme import Programme
from app.models.programme_document import CURRENT_STATUSES
from app.models.safety import (
    HOLDING_TIERS,
    AlertSource,
    RedFlagAnswers,
    RedFlagQuestion,
    SafetyAlert,
    SymptomCheck,
    SymptomCheckResult,
    Tier,
)
from app.models.safety_text import RED_FLAG_QUESTIONS, localised
from app.query import Record
from app.services import audit, events, holds, programme_changes, red_flags
from app.services.red_flags import Assessment, Outcome
from app.unit_of_work import independent_unit_of_work

logger = logging.getLogger("hep.safety")


def questions(locale: str) -> list[RedFlagQuestion]:
    return [
        RedFlagQuestion(key=key, text=localised(texts, locale)) for key, texts in RED_FLAG_QUESTIONS.items()
    ]


def raise_alert(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    tier: Tier,
    reasons: list[str],
    evidence: list[str],
    source: AlertSource,
    programme_id: uuid.UUID | None = None,
    item_id: uuid.UUID | None = None,
) -> SafetyAlert:
    """A new alert for the clinician's queue, announced; the caller places the hold for an emergency or
    urgent one (`hold`), in its own savepoint, so a hold that fails never takes the alert with it."""
    alert = SafetyAlert(
        clinic_id=actor.clinic_id,
        patient_id=patient_id,
        programme_id=programme_id,
        item_id=item_id,
        tier=tier,
        source=source,
        reasons=reasons,
        evidence=evidence,
    )
    session.add(alert)
    session.flush()
    alert_raised(session, alert)
    return alert


def alert_raised(session: Session, alert: SafetyAlert) -> None:
    events.emit(
        session,
        alert.clinic_id,
        "safety.alert_raised",
        {
            "alert_id": alert.id,
            "patient_id": alert.patient_id,
            "programme_id": alert.programme_id,
            "tier": alert.tier,
            "reasons": alert.reasons,
        },
    )


def extend_alert(session: Session, alert: SafetyAlert, reasons: list[str], evidence: list[str]) -> bool:
    """Add reasons and evidence to an unresolved alert; True if its reasons grew (news for the queue)."""
    grew = not set(reasons) <= set(alert.reasons)
    alert.reasons = list(dict.fromkeys([*alert.reasons, *reasons]))
    alert.evidence = list(dict.fromkeys([*alert.evidence, *evidence]))
    alert.updated_at = utcnow()
    session.add(alert)
    return grew


# --- check-ins -------------------------------------------------------------------------------------------


def _history(session: Session, actor: Actor) -> frozenset[str]:
    patient = session.get(Patient, actor.id)
    if patient is None or patient.clinic_id != actor.clinic_id:
        return frozenset()
    return frozenset(name for name in red_flags.HISTORY if getattr(patient, name))


def present(
    check_id: uuid.UUID | None, assessment: Assessment, outcome: Outcome, locale: str
) -> SymptomCheckResult:
    return SymptomCheckResult(
        id=check_id if outcome.recorded else None,
        tier=assessment.tier,
        reasons=assessment.reasons,
        complete=assessment.complete,
        not_assessed=assessment.not_assessed,
        instruction=red_flags.instruction(assessment, outcome, locale),
        programme_paused=outcome.recorded and outcome.programme_paused,
        alert_raised=outcome.recorded and outcome.alert_raised,
        recorded=outcome.recorded,
    )


def check_in(session: Session, actor: Actor, answers: RedFlagAnswers, locale: str) -> SymptomCheckResult:
    """Assess first; then store the check with its alert and audit row, and place the hold, in a unit of
    work of their own (committed here, so the answer knows whether it was stored). A failure anywhere in
    storing, the commit included, never hides the advice: the answer then says nothing was recorded. A
    hold that cannot be placed (say the programme changed at the same moment) never loses the alert."""
    try:
        history = _history(session, actor)
    except Exception:  # noqa: BLE001 — assess on the answers alone rather than not at all
        logger.exception("screening history could not be read")
        history = frozenset()
    assessment = red_flags.assess(answers, history)
    try:
        with independent_unit_of_work() as record:
            check = SymptomCheck(
                clinic_id=actor.clinic_id,
                patient_id=actor.id,
                answers=answers.model_dump(),
                tier=assessment.tier,
                reasons=assessment.reasons,
            )
            record.add(check)
            record.flush()
            alert = _alert_for_check(record, actor, check, assessment)
            audit.record(record, actor, "symptom_check.create", "symptom_check", check.id, actor.id)
            paused = alert is not None and _hold_if_possible(record, actor, alert)
    except Exception:  # noqa: BLE001 — the advice must reach the patient whatever failed here
        logger.exception("symptom check-in could not be stored", extra={"tier": assessment.tier})
        return present(None, assessment, Outcome(), locale)
    outcome = Outcome(recorded=True, programme_paused=paused, alert_raised=alert is not None)
    return present(check.id, assessment, outcome, locale)


def _hold_if_possible(session: Session, actor: Actor, alert: SafetyAlert) -> bool:
    """Place the hold for the alert in a savepoint; True if it paused the programme. A hold that fails
    leaves the alert stored: the clinic knows, the programme is not paused."""
    try:
        with session.begin_nested():
            return hold(session, actor, alert)
    except Exception:  # noqa: BLE001 — the alert is stored: the clinic knows, the programme is not paused
        logger.exception("safety hold could not be placed", extra={"alert_id": str(alert.id)})
        return False


def _alert_for_check(
    session: Session, actor: Actor, check: SymptomCheck, assessment: Assessment
) -> SafetyAlert | None:
    """A new alert for the check-in, or, while one from an earlier check-in of the same tier is unresolved,
    that one extended: the same answers day after day must not fill the queue (alert fatigue). The extended
    alert is announced again when it is emergency or urgent, or when its reasons grew."""
    if assessment.tier is None:
        return None
    unresolved = session.exec(
        select(SafetyAlert)
        .where(
            SafetyAlert.clinic_id == actor.clinic_id,
            SafetyAlert.patient_id == actor.id,
            SafetyAlert.source == "symptom_check",
            SafetyAlert.tier == assessment.tier,
            SafetyAlert.status != "resolved",
        )
        .order_by(col(SafetyAlert.created_at), col(SafetyAlert.id))
    ).first()
    if unresolved is None:
        current = _current_programme(session, actor.clinic_id, actor.id)
        return raise_alert(
            session,
            actor,
            actor.id,
            assessment.tier,
            assessment.reasons,
            [str(check.id)],
            "symptom_check",
            programme_id=current.id if current else None,
        )
    grew = extend_alert(session, unresolved, assessment.reasons, [str(check.id)])
    session.flush()
    if grew or unresolved.tier in HOLDING_TIERS:
        alert_raised(session, unresolved)
    return unresolved


# --- the safety hold -------------------------------------------------------------------------------------


def _current_programme(session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> Programme | None:
    return session.exec(
        select(Programme).where(
            Programme.clinic_id == clinic_id,
            Programme.patient_id == patient_id,
            col(Programme.status).in_(CURRENT_STATUSES),
        )
    ).first()


def _hold_of(alert: SafetyAlert | Record | None) -> dict[str, str] | None:
    if alert is None:
        return None
    return {"tier": alert.tier, "alert_id": str(alert.id), "since": alert.created_at.isoformat()}


def hold(session: Session, actor: Actor, alert: SafetyAlert) -> bool:
    """Put the patient's current programme on hold for a new emergency or urgent alert; True if that paused
    it. A routine alert holds nothing."""
    if alert.tier not in HOLDING_TIERS:
        return False
    return _sync_hold(session, actor, alert.clinic_id, alert.patient_id)


def _sync_hold(session: Session, actor: Actor, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    programme = _current_programme(session, clinic_id, patient_id)
    wanted = _hold_of(holds.holding_alert(session, clinic_id, patient_id))
    if programme is None or programme.safety_hold == wanted:
        return False
    return programme_changes.set_safety_hold(session, actor, programme, wanted)


# --- a clinician works an alert ---------------------------------------------------------------------------


def acknowledge(session: Session, actor: Actor, alert: SafetyAlert) -> SafetyAlert:
    if alert.status != "open":
        raise Conflict(f"The alert is {alert.status} already.", code=Code.INVALID_TRANSITION)
    now = utcnow()
    alert.status, alert.acknowledged_by, alert.acknowledged_at, alert.updated_at = (
        "acknowledged",
        actor.id,
        now,
        now,
    )
    session.add(alert)
    session.flush()
    audit.record(session, actor, "alert.acknowledge", "alert", alert.id, alert.patient_id)
    return alert


def resolve(session: Session, actor: Actor, alert: SafetyAlert, note: str) -> SafetyAlert:
    """A clinician closes an alert with a note (kept on the alert and in the audit trail). When no emergency
    or urgent alert is left, the hold comes off the programme; it stays paused until a clinician resumes."""
    if alert.status == "resolved":
        raise Conflict("The alert is resolved already.", code=Code.INVALID_TRANSITION)
    now = utcnow()
    alert.status, alert.resolved_by, alert.resolved_at, alert.updated_at = "resolved", actor.id, now, now
    alert.resolution_note = note
    session.add(alert)
    session.flush()
    audit.record(session, actor, "alert.resolve", "alert", alert.id, alert.patient_id, detail=note)
    events.emit(
        session,
        alert.clinic_id,
        "safety.alert_resolved",
        {"alert_id": alert.id, "patient_id": alert.patient_id, "tier": alert.tier},
    )
    _sync_hold(session, actor, alert.clinic_id, alert.patient_id)
    return alert


def has_open_alert(session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    """Any alert not yet resolved (acknowledging one is not reviewing it): progression waits. A review
    prompt (no change, no improvement) asks for a look without meaning anything went wrong: it does not."""
    return (
        session.exec(
            select(SafetyAlert.id).where(
                SafetyAlert.clinic_id == clinic_id,
                SafetyAlert.patient_id == patient_id,
                SafetyAlert.status != "resolved",
                SafetyAlert.source != "review",
            )
        ).first()
        is not None
    )
