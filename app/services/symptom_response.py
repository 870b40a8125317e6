"""How a session's symptoms are judged, and what a red session sets in motion.

Colour (clinical-content.md §2.2 and DESIGN §5), by the exercise's chain:
- red: new numbness or weakness; leg symptoms reaching further down the leg after the session than before
  it (or, without the extent before, than after the previous session of the exercise); pain during above
  5/10, or for nerve glides leg pain above 3/10;
- green: symptoms better, or leg symptoms retreating toward the spine;
- yellow: no change.
A red session stops that exercise (the item is suspended until a clinician reviews it) and the patient is
told so. New numbness or weakness takes the urgent path, as in a check-in: an urgent alert, the safety hold
(the programme is paused) and the urgent instruction. Any other red raises a routine alert for the physio
(or adds to the open one for that item); a second red in a row for the same item marks the alert as a red
streak, with both logs as evidence.
"""

from sqlmodel import Session, select

from app.db import utcnow
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor
from app.models.programme import ItemFacts, Programme, ProgrammeFacts, ProgrammeItem
from app.models.safety import SafetyAlert, SafetyNotice, Tier
from app.models.safety_text import lines
from app.models.session_log import LEG_RANK, Colour, SessionLog, SessionLogCreate
from app.services import programme_changes, red_flags, safety, suggestions
from app.store import PreviousLog

# The previous log of the same item: its id, colour and leg_symptoms.
Previous = PreviousLog


RED_PAIN_DURING = 5


NERVE_GLIDES = "neurodynamics"


RED_STREAK = "two_red_sessions_in_a_row"


URGENT_LOG_REASON = "new_numbness_or_weakness"


def _spread(data: SessionLogCreate | SessionLog, previous: Previous | None) -> int:
    """How much further down the leg the symptoms reach than before: within the session when the app sent
    the extent before it (centralisation is a within-session change), else against the previous session."""
    if data.leg_symptoms_before is not None:
        return LEG_RANK[data.leg_symptoms] - LEG_RANK[data.leg_symptoms_before]
    if previous is None:
        return 0
    return LEG_RANK[data.leg_symptoms] - LEG_RANK[previous.leg_symptoms]


def red_reasons(data: SessionLogCreate | SessionLog, previous: Previous | None, category: str) -> list[str]:
    """Why a session is red: the stop rules it broke (nerve glides have their own, stricter pain rule on the
    leg: leg pain above 3/10, or the session's worst pain when leg pain was not reported)."""
    if category == NERVE_GLIDES:
        pain_rule = ("leg_pain_above_3", (data.pain_during if data.leg_pain is None else data.leg_pain) > 3)
    else:
        pain_rule = ("pain_above_5", data.pain_during > RED_PAIN_DURING)
    return [
        reason
        for reason, broken in (
            ("new_numbness_or_weakness", data.new_numbness_or_weakness),
            pain_rule,
            ("leg_symptoms_spread", _spread(data, previous) > 0),
        )
        if broken
    ]


def colour(data: SessionLogCreate, previous: Previous | None, category: str) -> Colour:
    if red_reasons(data, previous, category):
        return "red"
    if data.response == "better" or _spread(data, previous) < 0:  # easing, or retreating toward the spine
        return "green"
    return "yellow"


def on_red(
    session: Session,
    actor: Actor,
    programme: Programme,
    item: ProgrammeItem,
    log: SessionLog,
    previous: Previous | None,
    reasons: list[str],
) -> SafetyNotice:
    """A red session (`reasons`: why it is red, never empty) stops the exercise and alerts (urgent, with the
    safety hold, for new numbness or weakness)."""
    if "new_numbness_or_weakness" in reasons:
        safety.hold(session, actor, _alert_urgent(session, actor, log))
    else:
        _alert_red(session, actor, log, previous)
    if item.suspension is None:
        suspension = {"since": utcnow().isoformat(), "reasons": reasons, "log_id": str(log.id)}
        programme_changes.suspend_item(
            session, suggestions.system_actor(programme), programme, item, suspension
        )
    return notice(actor, programme, item, reasons)


def notice(actor: Actor, programme: ProgrammeFacts, item: ItemFacts, reasons: list[str]) -> SafetyNotice:
    """What the patient is told after a red session: stop this exercise (and, for new numbness or
    weakness, the urgent instruction); it claims a pause only when the programme is paused."""
    paused = programme.status == "paused"
    if "new_numbness_or_weakness" in reasons:
        tier: Tier = "urgent"
        keys = [*red_flags.tier_lines("urgent", []), *(["programme_paused"] if paused else []), "clinic_told"]
    else:
        tier, keys = (
            "routine",
            ["exercise_stopped", "physio_told", *(["on_hold"] if programme.safety_hold else [])],
        )
    return SafetyNotice(
        tier=tier,
        reasons=reasons,
        instruction=lines(keys, actor.locale or DEFAULT_LOCALE),
        programme_paused=paused,
        item_suspended=item.suspension is not None,
    )


def _alert_urgent(session: Session, actor: Actor, log: SessionLog) -> SafetyAlert:
    """One urgent alert per patient for new numbness or weakness in logs, extended while it is open."""
    open_alert = session.exec(
        select(SafetyAlert).where(
            SafetyAlert.clinic_id == actor.clinic_id,
            SafetyAlert.patient_id == actor.id,
            SafetyAlert.source == "session_log",
            SafetyAlert.tier == "urgent",
            SafetyAlert.status != "resolved",
        )
    ).first()
    if open_alert is not None:
        safety.extend_alert(session, open_alert, [URGENT_LOG_REASON], [str(log.id)])
        return open_alert
    return safety.raise_alert(
        session,
        actor,
        actor.id,
        "urgent",
        [URGENT_LOG_REASON],
        [str(log.id)],
        "session_log",
        programme_id=log.programme_id,
        item_id=log.item_id,
    )


def _alert_red(session: Session, actor: Actor, log: SessionLog, previous: Previous | None) -> None:
    streak = previous is not None and previous.colour == "red"
    reasons = ["red_response", *([RED_STREAK] if streak else [])]
    evidence = [*([str(previous.id)] if streak and previous else []), str(log.id)]
    open_alert = session.exec(
        select(SafetyAlert).where(
            SafetyAlert.clinic_id == actor.clinic_id,
            SafetyAlert.patient_id == actor.id,
            SafetyAlert.item_id == log.item_id,
            SafetyAlert.source == "session_log",
            SafetyAlert.status == "open",
        )
    ).first()
    if open_alert is None:
        safety.raise_alert(
            session,
            actor,
            actor.id,
            "routine",
            reasons,
            evidence,
            "session_log",
            programme_id=log.programme_id,
            item_id=log.item_id,
        )
        return
    newly_streak = streak and RED_STREAK not in open_alert.reasons
    safety.extend_alert(session, open_alert, reasons, evidence)
    if newly_streak:
        session.flush()
        safety.alert_raised(session, open_alert)  # the streak is news for the physio's queue
