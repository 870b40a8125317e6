"""Issue 14: what a session log captures, the next-morning response, pacing by chain kind, review prompts,
contraindications at prescription, and the promises the patient reads."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app import simulation
from app.errors import DomainError
from app.models.audit import AuditEvent
from app.models.catalogue_files import load_catalogue
from app.models.programme_document import ProgrammeCreate
from app.models.progression import ProgressionSuggestion
from app.models.safety import SafetyAlert
from app.models.session_log import SessionLogCreate
from app.models.webhook import Event
from app.services import promises, sessions, symptom_response
from tests.factories import make_clinic
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, document_of, draft_programme, item_ids, log_body

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday, weeks before "now"
RULE = {"variable": "reps", "step": 2, "ceiling": 14, "sessions_needed": 2, "at_ceiling": "hold"}


def one_item(exercise: str, **dose) -> ProgrammeCreate:
    item = {"exercise": exercise, "sets": 1, "reps": 10, "progression_rule": RULE, **dose}
    return ProgrammeCreate.model_validate(
        {
            "title": "Simulated",
            "start_date": START.date(),
            "auto_progress": "auto",
            "phases": [{"name": "One", "items": [item]}],
        }
    )


def play(session, document, name, days):
    clinic = make_clinic(session)
    session.commit()
    _, sessions_pattern, mornings = simulation.PATTERNS[name]
    programme, lines = simulation.run(
        session, clinic.id, document, sessions_pattern, days, START, mornings=mornings
    )
    suggestions = session.exec(
        select(ProgressionSuggestion).where(ProgressionSuggestion.programme_id == programme.id)
    ).all()
    alerts = session.exec(select(SafetyAlert).where(SafetyAlert.patient_id == programme.patient_id)).all()
    session.commit()
    return programme, lines, suggestions, alerts


# --- what a log captures, and its colour ---


def log_in(**fields) -> SessionLogCreate:
    body = {
        "id": str(uuid.uuid4()),
        "programme_id": str(uuid.uuid4()),
        "item_id": str(uuid.uuid4()),
        "revision": 1,
        "performed_at": "2026-11-10T09:00:00+00:00",
        "sets_done": 1,
        "pain_during": 2,
        "leg_symptoms": "none",
        "response": "same",
    }
    return SessionLogCreate.model_validate(body | fields)


@pytest.mark.parametrize(
    ("fields", "category", "reasons", "colour"),
    [
        ({"pain_during": 4, "leg_pain": 4}, "neurodynamics", ["leg_pain_above_3"], "red"),
        ({"pain_during": 4, "leg_pain": 3}, "neurodynamics", [], "yellow"),
        (
            {"pain_during": 4},
            "neurodynamics",
            ["leg_pain_above_3"],
            "red",
        ),  # no leg pain sent: the worst pain
        ({"pain_during": 4, "leg_pain": 4}, "strength", [], "yellow"),  # 5/10 is the general limit
        ({"pain_during": 6}, "strength", ["pain_above_5"], "red"),
        (
            {"leg_symptoms_before": "thigh", "leg_symptoms": "below_knee"},
            "directional_preference",
            ["leg_symptoms_spread"],
            "red",
        ),
        (
            {"leg_symptoms_before": "below_knee", "leg_symptoms": "thigh"},
            "directional_preference",
            [],
            "green",
        ),
        ({"new_numbness_or_weakness": True}, "strength", ["new_numbness_or_weakness"], "red"),
    ],
)
def test_colour_by_chain_and_within_the_session(fields, category, reasons, colour):
    data = log_in(**fields)
    assert symptom_response.red_reasons(data, None, category) == reasons
    assert symptom_response.colour(data, None, category) == colour


def test_a_log_carries_back_and_leg_pain_side_and_extent_before(client, world):
    programme = active_programme(client, world.a)
    body = log_body(
        programme,
        item_ids(programme)[0],
        datetime.now(UTC).isoformat(),
        back_pain=3,
        leg_pain=2,
        leg_symptoms_before="thigh",
        leg_symptoms="buttock",
        leg_side="left",
    )
    logged = client.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"])
    assert logged.status_code == 201, logged.text
    stored = logged.json()
    assert (stored["back_pain"], stored["leg_pain"], stored["leg_side"]) == (3, 2, "left")
    assert stored["leg_symptoms_before"] == "thigh" and stored["colour"] == "green"  # centralised in-session
    old_style = log_body(programme, item_ids(programme)[1], datetime.now(UTC).isoformat())
    first = client.post("/v1/me/sessions", json=old_style, headers=world.a.headers["patient"])
    again = client.post("/v1/me/sessions", json=old_style, headers=world.a.headers["patient"])
    assert (first.status_code, again.status_code) == (201, 200)  # a body without the new fields still retries
    assert first.json()["back_pain"] is None and first.json()["leg_symptoms_before"] is None


# --- the next-morning response ---


def morning(client, tenant, day: date, response: str):
    return client.put(
        f"/v1/me/next-morning/{day.isoformat()}",
        json={"response": response},
        headers=tenant.headers["patient"],
    )


def test_worse_mornings_twice_in_a_row_tell_the_physio_once(client, world, session):
    active_programme(client, world.a)
    today = datetime.now(UTC).date()
    first = morning(client, world.a, today - timedelta(days=3), "worse")
    assert first.status_code == 200, first.text
    assert first.json()["alert_raised"] is False
    assert first.json()["instruction"][0].startswith("Take it easier today")
    assert morning(client, world.a, today - timedelta(days=2), "same").json()["alert_raised"] is False
    # Not in a row (a same morning between): nothing yet. Then the answer for day -2 changes to worse.
    changed = morning(client, world.a, today - timedelta(days=2), "worse").json()
    assert changed["alert_raised"] is True
    assert "Your physio has been told and will check this with you." in changed["instruction"]
    third = morning(client, world.a, today - timedelta(days=1), "worse").json()
    assert third["alert_raised"] is True  # the same run: the physio was told already
    alerts = session.exec(
        select(SafetyAlert).where(
            SafetyAlert.patient_id == world.a.patient.id, SafetyAlert.source == "next_morning"
        )
    ).all()
    raised = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "safety.alert_raised")
    ).all()
    session.commit()
    assert [(a.tier, a.reasons, len(a.evidence)) for a in alerts] == [
        ("routine", ["worse_next_morning_twice"], 2)
    ]
    assert len(raised) == 1


def test_next_morning_bad_input(client, world):
    today = datetime.now(UTC).date()
    assert_problem(morning(client, world.a, today - timedelta(days=1), "worse"), 409, "no_programme")
    active_programme(client, world.a)
    assert_problem(morning(client, world.a, today, "worse"), 400, "invalid_date")
    assert_problem(morning(client, world.a, today - timedelta(days=15), "worse"), 400, "invalid_date")
    assert_problem(morning(client, world.a, today - timedelta(days=1), "awful"), 422)
    assert_problem(
        client.put(
            f"/v1/me/next-morning/{today}", json={"response": "same"}, headers=world.a.headers["physio"]
        ),
        403,
    )


# --- pacing by chain kind ---


def test_a_directional_responder_steps_up_only_by_suggestion_after_a_day(session):
    document = one_item("prone-press-up", times_per_day=6)
    programme, lines, suggestions, _ = play(session, document, "directional-responder", 4)
    assert all(line.reason != "progression" for line in lines)  # never applied by the engine
    [suggestion] = suggestions
    assert suggestion.status == "pending" and suggestion.change == {"variable": "reps", "from": 10, "to": 12}
    # Two green sessions came within the first morning; the suggestion waited for 24 hours and a morning.
    assert suggestion.created_at - START >= timedelta(days=1)


def test_a_strength_patient_with_stable_symptoms_progresses(session):
    _, lines, _, _ = play(session, one_item("double-leg-bridge", sets=2), "strength-stable", 6)
    assert [change for line in lines if line.reason == "progression" for change in line.changes][:2] == [
        "double-leg-bridge: reps 10 → 12",
        "double-leg-bridge: reps 12 → 14",
    ]


def test_hard_sessions_hold_and_a_plateau_asks_for_a_review(session):
    _, lines, suggestions, alerts = play(session, one_item("double-leg-bridge", sets=2), "plateau", 16)
    assert all(line.reason != "progression" for line in lines) and suggestions == []  # effort CR10 8
    assert [(a.source, a.reasons) for a in alerts] == [("review", ["no_green_14_days"])]
    _, _, _, alerts = play(session, one_item("prone-on-elbows", times_per_day=6), "plateau", 4)
    assert [(a.source, a.reasons) for a in alerts] == [("review", ["no_change_48h"])]


def test_worse_mornings_hold_progression_offer_a_step_back_and_alert(session):
    rule = {**RULE, "regression_step": 2}
    document = one_item("double-leg-bridge", sets=2, progression_rule=rule)
    programme, lines, suggestions, alerts = play(session, document, "worse-next-morning", 8)
    assert [(a.source, a.reasons) for a in alerts] == [("next_morning", ["worse_next_morning_twice"])]
    assert alerts[0].created_at.date() == (START + timedelta(days=5)).date()  # the morning after day 4
    regress = [s for s in suggestions if s.direction == "regress"]
    assert len(regress) == 1 and regress[0].status == "pending" and regress[0].kind == "dose"
    progressed_on = [line.day for line in lines if line.reason == "progression"]
    assert not [day for day in progressed_on if 4 <= day <= 8]  # worse mornings, then the open alert


# --- contraindications and sides ---


def catalogue():
    return {exercise.slug: exercise for chain in load_catalogue() for exercise in chain.exercises}


def with_condition(condition: str) -> str:
    return next(
        slug
        for slug, exercise in catalogue().items()
        if condition in exercise.contraindications and not exercise.requires_clinician_unlock
    )


def scratch(exercise: str, **extra):
    item = {
        "exercise": exercise,
        "reps": 10,
        **({"side": "left"} if catalogue()[exercise].side_required else {}),
    }
    return {
        "title": "Plan",
        "start_date": "2026-11-02",
        "phases": [{"name": "One", "items": [item]}],
        **extra,
    }


@pytest.mark.parametrize(
    ("screening", "condition"),
    [
        ({"pregnant": True}, "pregnancy"),
        ({"osteoporosis": True}, "osteoporosis"),
        ({"uncontrolled_hypertension": True}, "uncontrolled_hypertension"),
        ({"hip_replacement": True}, "hip_replacement"),
        ({"recent_spinal_surgery": True}, "recent_spinal_surgery"),
        ({"directional_preference": "flexion"}, "extension_intolerant"),
        ({"directional_preference": "extension"}, "flexion_intolerant"),
        ({"stenosis_features": True}, "stenosis"),
        ({"neurodynamic_sensitivity": True}, "neurodynamic_sensitivity"),
    ],
)
def test_each_screening_answer_refuses_its_contraindicated_exercises(client, world, screening, condition):
    headers = world.a.headers["physio"]
    client.patch(f"/v1/patients/{world.a.patient.id}", json=screening, headers=headers)
    exercise = with_condition(condition)
    url = f"/v1/patients/{world.a.patient.id}/programmes"
    body = assert_problem(client.post(url, json=scratch(exercise), headers=headers), 409, "contraindicated")
    assert condition in body["errors"][0]["message"] and body["errors"][0]["loc"][-1] == "exercise"
    fine = next(
        slug
        for slug, e in catalogue().items()
        if condition not in e.contraindications and not e.requires_clinician_unlock
    )
    assert client.post(url, json=scratch(fine), headers=headers).status_code == 201


def test_a_clinician_overrides_with_a_reason_that_is_kept_and_audited(client, world, session):
    headers = world.a.headers["physio"]
    client.patch(f"/v1/patients/{world.a.patient.id}", json={"pregnant": True}, headers=headers)
    exercise = with_condition("pregnancy")
    url = f"/v1/patients/{world.a.patient.id}/programmes"
    reason = "12 weeks pregnant, prone tolerated with pillows; reviewed in clinic."
    assert_problem(
        client.post(
            url, json=scratch(exercise, override_contraindications=reason), headers=world.a.headers["api_key"]
        ),
        403,
        "clinician_required",
    )
    created = client.post(url, json=scratch(exercise, override_contraindications=reason), headers=headers)
    assert created.status_code == 201, created.text
    programme = created.json()
    override = programme["phases"][0]["items"][0]["contraindication_override"]
    assert override["conditions"] == ["pregnancy"] and override["reason"] == reason
    assert override["by"] == str(world.a.physio.id)
    # An edit that keeps the item's exercise needs no new override; swapping in another such exercise does.
    document = {
        k: programme[k] for k in ("title", "start_date", "end_date", "auto_progress", "current_phase")
    }
    item = {"id": programme["phases"][0]["items"][0]["id"], "exercise": exercise, "reps": 12}
    document["phases"] = [{"name": "One", "items": [item]}]
    tag = {"If-Match": f'"{programme["revision"]}"'}
    edited = client.put(f"/v1/programmes/{programme['id']}", json=document, headers=headers | tag)
    assert edited.status_code == 200, edited.text
    audit = session.exec(
        select(AuditEvent).where(
            AuditEvent.clinic_id == world.a.clinic.id,
            AuditEvent.action == "programme.contraindication_override",
        )
    ).all()
    session.commit()
    assert [(a.actor_id, a.detail) for a in audit] == [(world.a.physio.id, reason)]


def test_the_engine_never_steps_into_a_contraindicated_exercise_on_its_own(session):
    from app.models.common import Actor
    from app.models.patient import PatientCreate
    from app.services import patients, programmes

    step, condition = contraindicated_next_step(catalogue())
    clinic = make_clinic(session)
    system = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic.id)
    document = one_item(step.slug, progression_rule={**RULE, "ceiling": 10, "at_ceiling": "advance"})
    document.phases[0].advance_criteria.min_adherence_pct = 0  # judged on these sessions alone
    document.start_date = (START - timedelta(days=8)).date()
    with simulation.clock(START - timedelta(days=8)):
        patient = patients.create_patient(
            session, system, PatientCreate(display_name="P", **SCREENING[condition])
        )
        programme = programmes.create_programme(session, system, patient, document)
        programmes.transition(session, system, programme, "activate", None)
        session.commit()
    me = Actor(kind="patient", id=patient.id, clinic_id=clinic.id)
    for hours in (1, 3, 5):
        moment = START + timedelta(hours=hours)
        with simulation.clock(moment):
            item = programmes.read_programme(session, system, programme).phases[0].items[0]
            body = SessionLogCreate(
                id=uuid.uuid4(), programme_id=programme.id, item_id=item.id, revision=programme.revision,
                performed_at=moment, sets_done=1, reps_done=[10], **simulation.GREEN,
            )  # fmt: skip
            sessions.log_one(session, me, body)
            session.commit()
    pending = session.exec(
        select(ProgressionSuggestion).where(ProgressionSuggestion.programme_id == programme.id)
    ).all()
    session.refresh(programme)
    session.commit()
    assert programme.revision == 2  # created, activated: the engine changed nothing itself
    assert [(s.status, s.change["exercise_to"]) for s in pending] == [("pending", step.progression)]


def test_a_one_leg_nerve_glide_needs_its_side(client, world):
    glide = next(slug for slug, exercise in catalogue().items() if exercise.side_required)
    body = {
        "title": "Plan",
        "start_date": "2026-11-02",
        "phases": [{"name": "One", "items": [{"exercise": glide, "reps": 10}]}],
    }
    url = f"/v1/patients/{world.a.patient.id}/programmes"
    problem = assert_problem(
        client.post(url, json=body, headers=world.a.headers["physio"]), 400, "invalid_programme"
    )
    assert [e["type"] for e in problem["errors"]] == ["side_required"]
    body["phases"][0]["items"][0]["side"] = "right"
    assert client.post(url, json=body, headers=world.a.headers["physio"]).status_code == 201


# --- a stopped exercise and a hold stay with the clinician ---


def test_an_integration_cannot_drop_a_stopped_exercise_or_close_a_held_programme(client, world):
    programme = active_programme(client, world.a)
    bridge, cat = item_ids(programme)
    client.post(
        "/v1/me/sessions",
        json=log_body(programme, bridge, datetime.now(UTC).isoformat(), pain_during=8),
        headers=world.a.headers["patient"],
    )
    current = client.get(f"/v1/programmes/{programme['id']}", headers=world.a.headers["physio"]).json()
    document = {k: current[k] for k in ("title", "start_date", "end_date", "auto_progress", "current_phase")}
    document["phases"] = [
        {
            "name": "One",
            "items": [
                {"exercise": "double-leg-bridge", "sets": 2, "reps": 10},
                {"id": cat, "exercise": "cat-camel", "reps": 6},
            ],
        }
    ]
    tag = {"If-Match": f'"{current["revision"]}"'}
    url = f"/v1/programmes/{programme['id']}"
    assert_problem(
        client.put(url, json=document, headers=world.a.headers["api_key"] | tag), 403, "clinician_required"
    )
    # A hold: an integration cannot close the programme; a clinician can, and the plan still shows the hold.
    client.post(
        "/v1/me/symptom-checks", json={"answers": {"bowel_change": True}}, headers=world.a.headers["patient"]
    )
    assert_problem(
        client.post(f"{url}/cancel", headers=world.a.headers["api_key"]), 403, "clinician_required"
    )
    assert client.post(f"{url}/cancel", headers=world.a.headers["physio"]).status_code == 200
    plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    assert plan["programme_id"] is None and plan["safety_hold"]["tier"] == "emergency"
    # A new programme with the stopped exercise: not activated by an integration.
    draft = draft_programme(client, world.a)
    assert_problem(
        client.post(f"/v1/programmes/{draft['id']}/activate", headers=world.a.headers["api_key"]), 403
    )


def test_an_acknowledged_alert_still_holds_progression(session):
    from app.models.common import Actor
    from app.services import safety

    def acknowledged_alert(day, programme):
        if day == 0:
            actor = Actor(kind="patient", id=programme.patient_id, clinic_id=programme.clinic_id)
            alert = safety.raise_alert(
                session, actor, programme.patient_id, "routine", ["test"], [], "symptom_check"
            )
            staff = Actor(kind="staff", id=uuid.uuid4(), clinic_id=programme.clinic_id)
            safety.acknowledge(session, staff, alert)
            session.commit()

    clinic = make_clinic(session)
    session.commit()
    _, lines = simulation.run(
        session,
        clinic.id,
        one_item("double-leg-bridge", sets=2),
        simulation.PATTERNS["steady"][1],
        6,
        START,
        on_day=acknowledged_alert,
    )
    assert all(line.reason != "progression" for line in lines)


# --- promises ---


def test_every_stop_rule_in_the_catalogue_is_kept_by_a_rule():
    from app.models.stop_rules import STOP_RULES

    used = {rule for exercise in catalogue().values() for rule in exercise.stop_rules}
    assert used <= set(promises.STOP_RULES_KEPT_BY), used - set(promises.STOP_RULES_KEPT_BY)
    breaking = {
        "leg_symptoms_spread": ({"leg_symptoms_before": "thigh", "leg_symptoms": "foot"}, "strength"),
        "new_numbness_or_weakness": ({"new_numbness_or_weakness": True}, "neurodynamics"),
        "pain_above_5": ({"pain_during": 6}, "strength"),
        "leg_pain_above_3": ({"pain_during": 4, "leg_pain": 4}, "neurodynamics"),
    }
    for rule in used:
        kept_by = promises.STOP_RULES_KEPT_BY[rule]
        if kept_by.startswith("red:"):
            reason = kept_by.removeprefix("red:")
            fields, category = breaking[reason]
            assert reason in symptom_response.red_reasons(log_in(**fields), None, category), rule
        elif kept_by.startswith("next_morning:"):
            from app.services import next_morning

            assert kept_by.removeprefix("next_morning:") == next_morning.REASON
            assert "twice in a row" in STOP_RULES[rule]["en"]
        else:  # an instruction to the patient: it must not promise anything on the service's side
            assert not any(word in STOP_RULES[rule]["en"].lower() for word in ("told", "will be", "alert"))


def test_the_promise_table_in_the_docs_lists_every_promise():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "clinical-rules.md").read_text()
    table = docs[docs.index("## Promises the patient reads") :]
    for key in [*promises.STOP_RULES_KEPT_BY, *promises.LINES_KEPT_BY]:
        assert f"`{key}`" in table, key


# --- a property over random histories ---------------------------------------------------------------


ACTIONS = st.sampled_from(
    ["green", "green", "yellow", "red", "next_day", "next_day", "worse", "same", "reject", "accept", "edit"]
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(ACTIONS, min_size=8, max_size=45))
def test_suggestions_and_steps_keep_their_rules_over_any_history(session, script):
    """Over random sequences of logs, next-morning answers, rejections, acceptances and edits: a rejected
    change is never proposed again inside its window; nothing is applied to an item or phase no longer
    current; the engine never lands an item on a locked or contraindicated exercise."""
    from app.models.common import Actor
    from app.models.next_morning import NextMorningUpsert
    from app.models.patient import PatientCreate
    from app.models.programme import ProgrammeRevision
    from app.models.session_log import SessionLog
    from app.services import next_morning, patients, programmes, suggestions
    from app.services.prescribing import CONDITIONS

    everything = catalogue()
    step, condition = contraindicated_next_step(everything)
    clinic = make_clinic(session)
    session.commit()
    system = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=clinic.id)
    staff = Actor(kind="staff", id=uuid.uuid4(), clinic_id=clinic.id)
    rule = {**RULE, "ceiling": 12, "at_ceiling": "advance", "regression_step": 2}
    document = ProgrammeCreate.model_validate(
        {
            "title": "Property",
            "start_date": (START - timedelta(days=8)).date(),
            "auto_progress": "auto",
            "phases": [
                {
                    "name": "One",
                    "advance_criteria": {"min_sessions": 6, "min_adherence_pct": 0},
                    "items": [
                        {"exercise": step.slug, "sets": 1, "reps": 10, "progression_rule": rule},
                        {
                            "exercise": "prone-press-up-exhale-sag",
                            "sets": 1,
                            "reps": 10,
                            "progression_rule": rule,
                        },
                    ],
                },
                {"name": "Two", "items": [{"exercise": "cat-camel", "reps": 6}]},
            ],
        }
    )
    moment = START + timedelta(hours=8)
    with simulation.clock(START - timedelta(days=8)):  # running for a week: adherence can be judged
        patient = patients.create_patient(
            session, system, PatientCreate(display_name="P", **SCREENING[condition])
        )
        programme = programmes.create_programme(session, system, patient, document)
        programmes.transition(session, system, programme, "activate", None)
        session.commit()
    assert condition in {name for name, has in CONDITIONS.items() if has(patient)}
    me = Actor(kind="patient", id=patient.id, clinic_id=clinic.id)
    reports = {"green": simulation.GREEN, "yellow": simulation.SAME, "red": simulation.RED}
    for action in script:
        moment += timedelta(hours=2)
        with simulation.clock(moment):
            session.refresh(programme)
            pending = [s for s in progression_pending(session, programme)]
            try:
                if action in reports:
                    view = programmes.read_programme(session, system, programme)
                    for item in view.phases[view.current_phase].items:
                        if item.suspension is None:
                            sets = item.sets or 1
                            body = SessionLogCreate(
                                id=uuid.uuid4(), programme_id=programme.id, item_id=item.id,
                                revision=programme.revision, performed_at=moment, sets_done=sets,
                                reps_done=[item.reps] * sets if item.reps else [], **reports[action],
                            )  # fmt: skip
                            sessions.log_one(session, me, body)
                elif action == "next_day":
                    moment += timedelta(days=1)
                elif action in ("worse", "same"):
                    yesterday = moment.date() - timedelta(days=1)
                    next_morning.report(session, me, yesterday, NextMorningUpsert(response=action))
                elif action == "reject" and pending:
                    suggestions.reject(session, staff, pending[0], "not yet")
                elif action == "accept" and pending:
                    suggestions.accept(session, staff, pending[0], None)
                elif action == "edit":
                    edited = one_more_rep(programmes.read_programme(session, system, programme))
                    programmes.replace_programme(session, staff, programme, edited, programme.revision)
                session.commit()
            except DomainError:
                session.rollback()

    suggestions = session.exec(
        select(ProgressionSuggestion)
        .where(ProgressionSuggestion.programme_id == programme.id)
        .order_by(ProgressionSuggestion.created_at)
    ).all()
    received = {
        str(log.id): log.received_at
        for log in session.exec(select(SessionLog).where(SessionLog.programme_id == programme.id))
    }
    revisions = {
        r.number: r
        for r in session.exec(select(ProgrammeRevision).where(ProgrammeRevision.programme_id == programme.id))
    }
    session.commit()
    # 1. A rejected change comes back only on sessions received after the rejection.
    for rejected in [s for s in suggestions if s.status == "rejected"]:
        for later in suggestions:
            same = (later.item_id, later.kind, later.direction) == (
                rejected.item_id,
                rejected.kind,
                rejected.direction,
            )
            if same and later.kind != "phase" and later.created_at > rejected.decided_at:
                assert all(received[log] > rejected.decided_at for log in later.evidence), (rejected, later)
    # 2. Nothing is applied to an item or phase no longer current.
    for applied in [s for s in suggestions if s.status in ("applied", "accepted")]:
        before = revisions[applied.applied_revision - 1].snapshot["programme"]
        if applied.kind == "phase":
            assert applied.change["phase_from"] == before["current_phase"]
        else:
            current = [item["id"] for item in before["phases"][before["current_phase"]]["items"]]
            assert str(applied.item_id) in current
    # 3. The engine never lands an item on a locked or contraindicated exercise.
    for number, revision in revisions.items():
        if revision.author_kind != "system" or number == 1:
            continue
        old = {i["id"]: i for p in revisions[number - 1].snapshot["programme"]["phases"] for i in p["items"]}
        for phase in revision.snapshot["programme"]["phases"]:
            for item in phase["items"]:
                if item["id"] in old and old[item["id"]]["exercise_slug"] != item["exercise_slug"]:
                    landed = everything[item["exercise_slug"]]
                    assert not landed.requires_clinician_unlock, item
                    assert condition not in landed.contraindications, item


SCREENING = {
    "pregnancy": {"pregnant": True},
    "osteoporosis": {"osteoporosis": True},
    "uncontrolled_hypertension": {"uncontrolled_hypertension": True},
    "hip_replacement": {"hip_replacement": True},
    "recent_spinal_surgery": {"recent_spinal_surgery": True},
    "stenosis": {"stenosis_features": True},
    "neurodynamic_sensitivity": {"neurodynamic_sensitivity": True},
    "extension_intolerant": {"directional_preference": "flexion"},
    "flexion_intolerant": {"directional_preference": "extension"},
}


def contraindicated_next_step(everything):
    """An unlocked strength-type step whose next step is contraindicated for a condition it is not."""
    return next(
        (exercise, condition)
        for exercise in everything.values()
        if exercise.progression
        and not everything[exercise.progression].requires_clinician_unlock
        and not exercise.requires_clinician_unlock
        and exercise.category not in ("directional_preference", "neurodynamics")
        for condition in everything[exercise.progression].contraindications
        if condition not in exercise.contraindications
    )


def one_more_rep(view):
    """The programme as a clinician would PUT it back, each item one rep more (up to 12)."""
    from app.models.programme_document import ProgrammeDocument

    document = document_of(view.model_dump(mode="json"))
    for phase in document["phases"]:
        for item in phase["items"]:
            item["reps"] = min((item["reps"] or 10) + 1, 12)
    return ProgrammeDocument.model_validate(document)


def progression_pending(session, programme):
    return session.exec(
        select(ProgressionSuggestion)
        .where(ProgressionSuggestion.programme_id == programme.id, ProgressionSuggestion.status == "pending")
        .order_by(ProgressionSuggestion.created_at)
    ).all()


def test_the_patient_text_states_the_prescribed_dose_not_the_default(client, world):
    programme = active_programme(
        client,
        world.a,
        items=[{"exercise": "bird-dog", "sets": 2, "reps": 6, "hold_s": 8, "days_of_week": [1, 3]}],
    )
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    view = client.get(f"/v1/me/programmes/{programme['id']}", headers=world.a.headers["patient"]).json()
    item = view["phases"][0]["items"][0]
    text = " ".join([item["exercise"]["summary"], *item["exercise"]["steps"]])
    assert "8 segundos" in text and "{" not in text
    assert item["dose_text"] == "2 series de 6, aguanta 8 segundos, los lunes y miércoles"
