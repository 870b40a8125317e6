"""The clinician's alert queue: what needs looking at, most serious first."""

import uuid

from sqlalchemy import case, func
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from app.errors import NotFound
from app.models.common import Actor
from app.models.safety import TIER_ORDER, AlertPage, AlertStatus, SafetyAlert, SafetyAlertPublic, Tier
from app.services import audit
from app.services.pagination import PageParams, SortKey, paginate

# Most serious first. The database checks that a tier is one of these, so the CASE never yields NULL.
TIER_RANK: dict[Tier, int] = {tier: rank for rank, tier in enumerate(TIER_ORDER)}
_tier_rank = SortKey(case(TIER_RANK, value=SafetyAlert.tier), lambda alert: TIER_RANK[alert.tier])


def _alerts(actor: Actor) -> SelectOfScalar[SafetyAlert]:
    return select(SafetyAlert).where(SafetyAlert.clinic_id == actor.clinic_id)


def list_alerts(
    session: Session,
    actor: Actor,
    params: PageParams,
    status: AlertStatus | None,
    tier: Tier | None,
    patient_id: uuid.UUID | None,
) -> AlertPage:
    """The queue by tier, then longest waiting first; counts per tier ignore the tier filter, so a
    clinician looking at one tier still sees what waits in the others. Without a status, only what still
    needs work (open and acknowledged): resolved alerts are listed when asked for."""
    matching = _alerts(actor)
    if status is None:
        matching = matching.where(SafetyAlert.status != "resolved")
    else:
        matching = matching.where(SafetyAlert.status == status)
    if patient_id is not None:
        matching = matching.where(SafetyAlert.patient_id == patient_id)
    listed = matching if tier is None else matching.where(SafetyAlert.tier == tier)
    page = paginate(
        session, listed, SafetyAlert.id, params, time_column=SafetyAlert.created_at, rank=_tier_rank
    )
    scope = matching.whereclause
    assert scope is not None  # _alerts scopes every query to the clinic
    per_tier = session.exec(
        select(SafetyAlert.tier, func.count()).where(scope).group_by(SafetyAlert.tier)
    ).all()
    audit.record(session, actor, "alert.list", "alert", patient_id=patient_id)
    return AlertPage(
        items=[SafetyAlertPublic.model_validate(a, from_attributes=True) for a in page.items],
        next_cursor=page.next_cursor,
        counts=dict.fromkeys(TIER_RANK, 0) | dict(per_tier),
    )


def get_alert(session: Session, actor: Actor, alert_id: uuid.UUID) -> SafetyAlert:
    alert = session.exec(_alerts(actor).where(SafetyAlert.id == alert_id)).first()
    if alert is None:
        raise NotFound("No such alert.")
    return alert
