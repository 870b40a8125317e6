"""Whether a patient is on a safety hold: any unresolved emergency or urgent alert (DESIGN §5).

Its own small module so that both the programme lifecycle (which refuses to resume or activate) and the
safety service (which places and lifts holds) can ask, without importing each other.
"""

import uuid

from sqlmodel import Session

from app import store
from app.db import Db
from app.errors import Code, Conflict, Forbidden
from app.models.common import Actor
from app.models.programme import Programme
from app.models.safety import TIER_ORDER
from app.query import Record


def holding_alert(db: Db, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> Record | None:
    """The most serious, then oldest, unresolved emergency or urgent alert of the patient: id, tier and
    created_at."""
    alerts = store.holding_alerts(db, clinic_id, patient_id)
    return min(alerts, key=lambda a: (TIER_ORDER.index(a.tier), a.created_at), default=None)


def ensure_no_hold(session: Session, actor: Actor, programme: Programme) -> None:
    """Resuming or activating waits for a clinician to resolve every emergency and urgent alert."""
    if holding_alert(session, programme.clinic_id, programme.patient_id) is None:
        return
    if actor.kind != "staff":
        raise Forbidden(
            "Only a signed-in clinician can lift a safety hold, by resolving the alert with a note.",
            code=Code.CLINICIAN_REQUIRED,
        )
    raise Conflict(
        "The patient has an open emergency or urgent alert: resolve it with a note first (POST "
        "/v1/alerts/{id}/resolve), then resume.",
        code=Code.SAFETY_HOLD,
    )


def ensure_clinician_during_hold(session: Session, actor: Actor, programme: Programme) -> None:
    """Closing a held programme would take the instruction away from the patient: clinicians only."""
    if actor.kind == "api_key" and holding_alert(session, programme.clinic_id, programme.patient_id):
        raise Forbidden(
            "The patient is on a safety hold: only a signed-in clinician can close this programme.",
            code=Code.CLINICIAN_REQUIRED,
        )
