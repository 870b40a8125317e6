"""Red-flag check-ins and the clinician's alert queue.

Tiers follow clinical-content.md §3.1: escalate, never reassure. The assessment is a pure function so the
patient gets the instruction even if storing the check-in, pausing the programme or alerting fails.
"""

import logging
import uuid

from sqlmodel import Session, select

from app.db import utcnow
from app.errors import Conflict, NotFound
from app.models.common import Actor, Page
from app.models.programme import Programme
from app.models.safety import (
    TIER_INSTRUCTIONS,
    AlertStatus,
    RedFlagAnswers,
    SafetyAlert,
    SafetyAlertPublic,
    SymptomCheck,
    SymptomCheckResult,
    Tier,
    localised,
)
from app.services import audit, events, programmes
from app.services.pagination import PageParams, paginate

logger = logging.getLogger("hep.safety")

CES_SIGNS = ("saddle_numbness", "bladder_change", "bowel_change", "sexual_dysfunction", "both_legs")
MSCC_SIGNS = (
    "severe_or_worsening_pain",
    "new_nerve_pain",
    "walking_difficulty",
    "leg_weakness_worsening",
    "bladder_change",
    "bowel_change",
)
URGENT_SIGNS = {
    "leg_weakness_worsening": "progressive_neurological_deficit",
    "fever_or_unwell": "possible_infection",
    "infection_risk": "possible_infection",
    "weight_loss": "possible_malignancy",
    "night_pain": "possible_malignancy",
    "no_improvement_month": "possible_malignancy",
    "cancer_history": "possible_malignancy",
    "fracture_risk": "possible_fracture",
}
ROUTINE_SIGNS = {
    "morning_stiffness": "possible_inflammatory_pain",
    "symptoms_spreading": "persistent_peripheralisation",
}
PAUSING_TIERS = ("emergency", "urgent")


def assess(answers: RedFlagAnswers) -> tuple[Tier | None, list[str]]:
    """The highest tier the answers reach, and every reason found (most serious first)."""
    said = {name for name, value in answers.model_dump().items() if value}
    emergency = []
    if said & set(CES_SIGNS):
        emergency.append("suspected_cauda_equina")
    if "cancer_history" in said and said & set(MSCC_SIGNS):
        emergency.append("suspected_spinal_cord_compression")
    if "major_trauma" in said:
        emergency.append("major_trauma")
    urgent = sorted({reason for sign, reason in URGENT_SIGNS.items() if sign in said})
    routine = sorted({reason for sign, reason in ROUTINE_SIGNS.items() if sign in said})
    reasons = emergency + urgent + routine
    tier: Tier | None = "emergency" if emergency else "urgent" if urgent else "routine" if routine else None
    return tier, reasons


def instruction(tier: Tier | None, locale: str) -> str:
    return localised(TIER_INSTRUCTIONS[tier or "clear"], locale)


def raise_alert(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID,
    tier: Tier,
    reasons: list[str],
    evidence: list[str],
    source: str,
    programme_id: uuid.UUID | None = None,
    item_id: uuid.UUID | None = None,
) -> SafetyAlert:
    alert = SafetyAlert(
        clinic_id=actor.clinic_id,
        patient_id=patient_id,
        programme_id=programme_id,
        item_id=item_id,
        tier=tier,
        source=source,  # type: ignore[arg-type]
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


def check_in(session: Session, actor: Actor, answers: RedFlagAnswers, locale: str) -> SymptomCheckResult:
    """Assess first; then store, pause and alert in a savepoint so a failure there never hides the advice."""
    tier, reasons = assess(answers)
    result = SymptomCheckResult(
        id=None,
        tier=tier,
        reasons=reasons,
        instruction=instruction(tier, locale),
        programme_paused=False,
        alert_raised=False,
        recorded=False,
    )
    try:
        with session.begin_nested():
            check = SymptomCheck(
                clinic_id=actor.clinic_id,
                patient_id=actor.id,
                answers=answers.model_dump(),
                tier=tier,
                reasons=reasons,
            )
            session.add(check)
            session.flush()
            paused: Programme | None = None
            if tier in PAUSING_TIERS:
                paused = _pause_current(session, actor)
            if tier is not None:
                raise_alert(
                    session,
                    actor,
                    actor.id,
                    tier,
                    reasons,
                    [str(check.id)],
                    "symptom_check",
                    programme_id=paused.id if paused else None,
                )
            audit.record(session, actor, "symptom_check.create", "symptom_check", check.id, actor.id)
        result.id, result.recorded = check.id, True
        result.programme_paused, result.alert_raised = paused is not None, tier is not None
    except Exception:  # noqa: BLE001 — the advice must reach the patient whatever failed here
        logger.exception("symptom check-in could not be stored", extra={"tier": tier})
    return result


def _pause_current(session: Session, actor: Actor) -> Programme | None:
    programme = session.exec(
        select(Programme).where(
            Programme.clinic_id == actor.clinic_id,
            Programme.patient_id == actor.id,
            Programme.status == "active",
        )
    ).first()
    if programme is None:
        return None
    programmes.transition(session, actor, programme, "pause", None)
    return programme


# --- the clinician's queue ---------------------------------------------------------------------------


def _alerts(actor: Actor):
    return select(SafetyAlert).where(SafetyAlert.clinic_id == actor.clinic_id)


def list_alerts(
    session: Session,
    actor: Actor,
    params: PageParams,
    status: AlertStatus | None,
    patient_id: uuid.UUID | None,
) -> Page[SafetyAlertPublic]:
    statement = _alerts(actor)
    if status is not None:
        statement = statement.where(SafetyAlert.status == status)
    if patient_id is not None:
        statement = statement.where(SafetyAlert.patient_id == patient_id)
    page = paginate(session, statement, SafetyAlert.id, params)
    audit.record(session, actor, "alert.list", "alert", patient_id=patient_id)
    return page.mapped(lambda rows: [SafetyAlertPublic.model_validate(a, from_attributes=True) for a in rows])


def get_alert(session: Session, actor: Actor, alert_id: uuid.UUID) -> SafetyAlert:
    alert = session.exec(_alerts(actor).where(SafetyAlert.id == alert_id)).first()
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def move_alert(session: Session, actor: Actor, alert: SafetyAlert, action: str) -> SafetyAlert:
    now = utcnow()
    if action == "acknowledge":
        if alert.status != "open":
            raise Conflict(f"The alert is {alert.status} already.", code="invalid_transition")
        alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", actor.id, now
    else:
        if alert.status == "resolved":
            raise Conflict("The alert is resolved already.", code="invalid_transition")
        alert.status, alert.resolved_by, alert.resolved_at = "resolved", actor.id, now
    alert.updated_at = now
    session.add(alert)
    session.flush()
    audit.record(session, actor, f"alert.{action}", "alert", alert.id, alert.patient_id)
    return alert


def has_open_alert(session: Session, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    return (
        session.exec(
            select(SafetyAlert.id).where(
                SafetyAlert.clinic_id == clinic_id,
                SafetyAlert.patient_id == patient_id,
                SafetyAlert.status == "open",
            )
        ).first()
        is not None
    )


def extend_alert(session: Session, alert: SafetyAlert, reasons: list[str], evidence: list[str]) -> None:
    alert.reasons = list(dict.fromkeys([*alert.reasons, *reasons]))
    alert.evidence = list(dict.fromkeys([*alert.evidence, *evidence]))
    alert.updated_at = utcnow()
    session.add(alert)
