"""Symptom check-ins and the safety hold through HTTP: every tier stored and alerted, the programme held
until a clinician resolves the alert with a note, a red session stops its exercise, and weakness in a
log takes the urgent path. The triage table itself is tested in tests/services/test_red_flags.py."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from app.errors import PreconditionFailed
from app.models.audit import AuditEvent
from app.models.safety_text import RED_FLAG_QUESTIONS
from app.models.webhook import Event
from app.services import programme_changes, safety
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, draft_programme, item_ids, log_body

EVERY_NO = dict.fromkeys(RED_FLAG_QUESTIONS, False)


def check(client, tenant, **answers):
    response = client.post(
        "/v1/me/symptom-checks", json={"answers": EVERY_NO | answers}, headers=tenant.headers["patient"]
    )
    assert response.status_code == 201, response.text
    return response.json()


def open_alerts(client, tenant):
    return client.get(
        "/v1/alerts",
        params={"patient_id": str(tenant.patient.id), "status": "open"},
        headers=tenant.headers["physio"],
    ).json()["items"]


def staff_view(client, tenant, programme_id):
    return client.get(f"/v1/programmes/{programme_id}", headers=tenant.headers["physio"]).json()


def patient_view(client, tenant, programme_id):
    return client.get(f"/v1/me/programmes/{programme_id}", headers=tenant.headers["patient"]).json()


@pytest.mark.parametrize(
    ("answers", "tier", "reason"),
    [
        ({"saddle_numbness": True}, "emergency", "suspected_cauda_equina"),
        ({"major_trauma": True}, "emergency", "major_trauma"),
        ({"walking_difficulty": True}, "urgent", "progressive_neurological_deficit"),
        ({"upper_back_pain": True}, "urgent", "severe_or_thoracic_pain"),
        ({"new_nerve_pain": True}, "routine", "new_nerve_root_pain"),
        ({"no_improvement_month": True}, "routine", "no_improvement_review"),
        ({"pulsing_belly_pain": True}, "emergency", "suspected_aortic_aneurysm"),
        ({"minor_fall": True}, "routine", "fall_review"),
    ],
)
def test_a_yes_is_stored_and_alerted(client, world, answers, tier, reason):
    result = check(client, world.a, **answers)
    assert result["tier"] == tier and reason in result["reasons"] and result["complete"] is True
    assert result["recorded"] is True and result["alert_raised"] is True and result["id"]
    assert [(a["tier"], a["evidence"]) for a in open_alerts(client, world.a)] == [(tier, [result["id"]])]


def test_every_no_is_the_all_clear_and_a_partial_answer_is_not(client, world):
    result = check(client, world.a)
    assert result["tier"] is None and result["alert_raised"] is False and result["complete"] is True
    assert result["instruction"][0] == "Thank you. You told us you have none of these signs."
    partial = client.post(
        "/v1/me/symptom-checks", json={"answers": {"bowel_change": False}}, headers=world.a.headers["patient"]
    ).json()
    assert partial["tier"] is None and partial["complete"] is False
    assert len(partial["not_assessed"]) == len(RED_FLAG_QUESTIONS) - 1
    assert "bowel_change" not in partial["not_assessed"]
    assert not any("none of these signs" in line for line in partial["instruction"])
    assert open_alerts(client, world.a) == []


def test_the_questions_are_served_in_the_patients_language(client, world):
    english = client.get("/v1/me/red-flag-questions", headers=world.a.headers["patient"]).json()
    assert [q["key"] for q in english] == list(RED_FLAG_QUESTIONS)
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    spanish = client.get("/v1/me/red-flag-questions", headers=world.a.headers["patient"]).json()
    assert [q["text"] for q in spanish] == [texts["es"] for texts in RED_FLAG_QUESTIONS.values()]
    assert_problem(client.get("/v1/me/red-flag-questions", headers=world.a.headers["physio"]), 403)


def test_history_on_the_screening_record_combines_with_new_signs(client, world):
    headers = world.a.headers["physio"]
    client.patch(f"/v1/patients/{world.a.patient.id}", json={"history_cancer": True}, headers=headers)
    assert check(client, world.a)["tier"] is None  # history alone raises nothing
    result = check(client, world.a, walking_difficulty=True)
    assert result["tier"] == "emergency" and result["reasons"][0] == "suspected_spinal_cord_compression"


def test_emergency_holds_the_programme_until_a_clinician_resolves_it_with_a_note(client, world, session):
    programme = active_programme(client, world.a)
    url = f"/v1/programmes/{programme['id']}"
    result = check(client, world.a, saddle_numbness=True, morning_stiffness=True)
    assert result["tier"] == "emergency"
    assert result["reasons"] == ["suspected_cauda_equina", "possible_inflammatory_pain"]
    assert result["instruction"][0].startswith("Go to an emergency department now")
    assert "Your exercise programme is paused." in result["instruction"]
    assert "Your clinic has been told." in result["instruction"] and result["programme_paused"] is True

    held = staff_view(client, world.a, programme["id"])
    assert held["status"] == "paused" and held["safety_hold"]["tier"] == "emergency"
    mine = patient_view(client, world.a, programme["id"])
    assert mine["safety_hold"]["instruction"] == [
        "Your programme is paused until your physio has checked you.",
        "If nobody has checked you yet, go to an emergency department now. Or call your emergency number.",
    ]
    plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    assert plan["safety_hold"]["tier"] == "emergency"

    # Nobody resumes while the alert is open: an API key never, a clinician not before resolving it.
    assert_problem(
        client.post(f"{url}/resume", headers=world.a.headers["api_key"]), 403, "clinician_required"
    )
    assert_problem(client.post(f"{url}/resume", headers=world.a.headers["physio"]), 409, "safety_hold")
    [alert] = [a for a in open_alerts(client, world.a) if a["tier"] == "emergency"]
    alert_url = f"/v1/alerts/{alert['id']}"
    client.post(f"{alert_url}/acknowledge", headers=world.a.headers["physio"])  # acknowledged is not resolved
    assert_problem(client.post(f"{url}/resume", headers=world.a.headers["physio"]), 409, "safety_hold")
    assert_problem(client.post(f"{alert_url}/resolve", headers=world.a.headers["physio"]), 422)
    assert_problem(
        client.post(f"{alert_url}/resolve", json={"note": ""}, headers=world.a.headers["physio"]), 422
    )
    assert_problem(
        client.post(f"{alert_url}/resolve", json={"note": "x" * 2001}, headers=world.a.headers["physio"]), 422
    )
    note = "Seen in A&E: MRI clear, no cauda equina. Back to the programme."
    assert_problem(
        client.post(f"{alert_url}/resolve", json={"note": note}, headers=world.a.headers["api_key"]),
        403,
        "clinician_required",
    )
    resolved = client.post(
        f"{alert_url}/resolve", json={"note": note}, headers=world.a.headers["physio"]
    ).json()
    assert resolved["status"] == "resolved" and resolved["resolution_note"] == note
    assert resolved["resolved_by"] == str(world.a.physio.id) and resolved["resolved_at"]

    lifted = staff_view(client, world.a, programme["id"])
    assert lifted["status"] == "paused" and lifted["safety_hold"] is None  # paused until a clinician resumes
    assert patient_view(client, world.a, programme["id"])["safety_hold"] is None
    resumed = client.post(f"{url}/resume", headers=world.a.headers["physio"])
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"

    audit = session.exec(
        select(AuditEvent).where(
            AuditEvent.clinic_id == world.a.clinic.id, AuditEvent.action == "alert.resolve"
        )
    ).all()
    resolved_events = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "safety.alert_resolved")
    ).all()
    session.commit()
    assert [(a.actor_id, a.detail) for a in audit] == [(world.a.physio.id, note)]
    assert [e.data for e in resolved_events] == [
        {"alert_id": alert["id"], "patient_id": str(world.a.patient.id), "tier": "emergency"}
    ]


def test_a_draft_cannot_be_activated_during_a_hold(client, world):
    check(client, world.a, leg_weakness_worsening=True)  # urgent, with no programme to pause yet
    draft = draft_programme(client, world.a)
    activate = f"/v1/programmes/{draft['id']}/activate"
    assert_problem(client.post(activate, headers=world.a.headers["physio"]), 409, "safety_hold")
    assert_problem(client.post(activate, headers=world.a.headers["api_key"]), 403, "clinician_required")


def test_routine_does_not_hold_and_a_second_urgent_pauses_nothing_more(client, world):
    programme = active_programme(client, world.a)
    routine = check(client, world.a, morning_stiffness=True)
    assert routine["programme_paused"] is False
    assert "You can keep doing your exercises if they do not make things worse." in routine["instruction"]
    assert "Your physio has been told and will check this with you." in routine["instruction"]
    assert staff_view(client, world.a, programme["id"])["status"] == "active"
    urgent = check(client, world.a, fever_or_unwell=True)
    assert urgent["programme_paused"] is True and urgent["instruction"][0] == "Call your clinic today."
    again = check(client, world.a, fever_or_unwell=True)  # already paused: nothing more to pause or claim
    assert again["programme_paused"] is False and again["alert_raised"] is True
    assert "Your exercise programme is paused." not in again["instruction"]


def test_instruction_is_in_the_patients_language(client, world):
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    result = check(client, world.a, major_trauma=True)
    assert result["instruction"][0] == "Ve a urgencias ahora o llama al número de emergencias."


def test_the_patient_gets_the_instruction_even_if_storing_fails(client, world, monkeypatch):
    programme = active_programme(client, world.a)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure while alerting")

    monkeypatch.setattr(safety, "raise_alert", broken)
    result = check(client, world.a, bladder_change=True)
    assert result["tier"] == "emergency" and result["instruction"][0].startswith(
        "Go to an emergency department"
    )
    assert result["recorded"] is False and result["programme_paused"] is False and result["id"] is None
    # It claims nothing that did not happen, and says to call the clinic instead.
    assert "We could not tell your clinic. Call them now." in result["instruction"]
    assert not {"Your exercise programme is paused.", "Your clinic has been told."} & set(
        result["instruction"]
    )
    monkeypatch.undo()
    assert staff_view(client, world.a, programme["id"])["status"] == "active"  # nothing half-done
    assert open_alerts(client, world.a) == []


def test_unknown_answers_and_old_history_questions_are_refused(client, world):
    for answers in ({"feels_odd": True}, {"cancer_history": True}, {"saddle_numbness": "yes"}):
        response = client.post(
            "/v1/me/symptom-checks", json={"answers": answers}, headers=world.a.headers["patient"]
        )
        assert response.status_code == 422, answers


# --- sessions that need action -----------------------------------------------------------------------------


def post_log(client, tenant, body):
    response = client.post("/v1/me/sessions", json=body, headers=tenant.headers["patient"])
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_red_session_stops_that_exercise_and_the_plan_says_why(client, world):
    programme = active_programme(client, world.a, items=[
        {"exercise": "prone-lying-over-pillows", "duration_s": 120, "times_per_day": 6},
        {"exercise": "cat-camel", "reps": 6, "times_per_day": 1},
    ], backdate=datetime.now(UTC) - timedelta(days=1))  # fmt: skip
    prone, cat = item_ids(programme)
    now = datetime.now(UTC)
    first = post_log(
        client,
        world.a,
        log_body(programme, prone, (now - timedelta(hours=2)).isoformat(), leg_symptoms="thigh"),
    )
    assert first["safety"] is None
    spread = log_body(programme, prone, (now - timedelta(hours=1)).isoformat(), leg_symptoms="below_knee")
    logged = post_log(client, world.a, spread)
    assert logged["colour"] == "red"
    assert logged["safety"]["tier"] == "routine" and logged["safety"]["reasons"] == ["leg_symptoms_spread"]
    assert logged["safety"]["item_suspended"] is True and logged["safety"]["programme_paused"] is False
    assert logged["safety"]["instruction"] == [
        "Stop doing this exercise for now.",
        "Your physio has been told and will check this with you.",
    ]
    assert post_log(client, world.a, spread)["safety"] == logged["safety"]  # a retry is told again

    plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    assert [item["item_id"] for item in plan["items"]] == [cat]  # first steps have nothing to step back to
    [stopped] = plan["stopped"]
    assert stopped["item_id"] == prone and stopped["reasons"] == ["leg_symptoms_spread"]
    assert stopped["message"][0] == "Stop doing this exercise for now."
    view = staff_view(client, world.a, programme["id"])
    suspension = view["phases"][0]["items"][0]["suspension"]
    assert suspension["log_id"] == logged["id"] and view["revision"] == programme["revision"] + 1

    # Only a clinician, with a note, lets the patient do it again.
    url = f"/v1/programmes/{programme['id']}/items/{prone}/reinstate"
    assert_problem(
        client.post(url, json={"note": "ok"}, headers=world.a.headers["api_key"]), 403, "clinician_required"
    )
    assert_problem(client.post(url, json={}, headers=world.a.headers["physio"]), 422)
    back = client.post(
        url,
        json={"note": "Checked: spread was from sitting, not the exercise."},
        headers=world.a.headers["physio"],
    )
    assert back.status_code == 200 and back.json()["phases"][0]["items"][0]["suspension"] is None
    assert_problem(
        client.post(url, json={"note": "again"}, headers=world.a.headers["physio"]), 409, "item_not_suspended"
    )
    plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    assert {item["item_id"] for item in plan["items"]} == {prone, cat} and plan["stopped"] == []


def test_a_step_back_is_offered_only_to_an_easier_unlocked_exercise_outside_directional_chains(client, world):
    programme = active_programme(client, world.a, items=[
        {"exercise": "prone-on-elbows", "duration_s": 120, "times_per_day": 6},
        {"exercise": "banded-bridge", "sets": 2, "reps": 10},
    ])  # fmt: skip
    elbows, bridge = item_ids(programme)
    now = datetime.now(UTC).isoformat()
    for item in (elbows, bridge):
        assert post_log(client, world.a, log_body(programme, item, now, pain_during=7))["safety"][
            "item_suspended"
        ]
    suggestions = client.get(
        f"/v1/programmes/{programme['id']}/suggestions", headers=world.a.headers["physio"]
    ).json()["items"]
    # Less of the same provoking direction (prone-lying-flat) is not offered; the bridge steps back a level.
    assert [(s["item_id"], s["direction"], s["change"]["exercise_to"], s["status"]) for s in suggestions] == [
        (bridge, "regress", "double-leg-bridge", "pending")
    ]
    accepted = client.post(
        f"/v1/suggestions/{suggestions[0]['id']}/accept", headers=world.a.headers["physio"]
    )
    assert accepted.status_code == 200, accepted.text
    items = staff_view(client, world.a, programme["id"])["phases"][0]["items"]
    assert [(i["exercise_slug"], i["suspension"] is None) for i in items] == [
        ("prone-on-elbows", False),
        ("double-leg-bridge", True),  # accepting the step back was the clinician's review
    ]


def test_new_weakness_in_a_log_takes_the_urgent_path(client, world, session):
    programme = active_programme(client, world.a)
    bridge = item_ids(programme)[0]
    body = log_body(programme, bridge, datetime.now(UTC).isoformat(), new_numbness_or_weakness=True)
    logged = post_log(client, world.a, body)
    notice = logged["safety"]
    assert notice["tier"] == "urgent" and notice["reasons"] == ["new_numbness_or_weakness"]
    assert notice["programme_paused"] is True and notice["item_suspended"] is True
    assert notice["instruction"][0] == "Call your clinic today."
    assert "Your exercise programme is paused." in notice["instruction"]
    assert "Your clinic has been told." in notice["instruction"]
    [alert] = open_alerts(client, world.a)
    assert (
        alert["tier"] == "urgent" and alert["source"] == "session_log" and alert["evidence"] == [logged["id"]]
    )
    held = staff_view(client, world.a, programme["id"])
    assert held["status"] == "paused" and held["safety_hold"]["alert_id"] == alert["id"]
    assert_problem(
        client.post(f"/v1/programmes/{programme['id']}/resume", headers=world.a.headers["physio"]),
        409,
        "safety_hold",
    )
    # A second one while the alert is open adds to it rather than raising another.
    second = log_body(
        programme, item_ids(programme)[1], datetime.now(UTC).isoformat(), new_numbness_or_weakness=True
    )
    assert post_log(client, world.a, second)["safety"]["tier"] == "urgent"
    [alert] = open_alerts(client, world.a)
    assert alert["evidence"] == [logged["id"], second["id"]]
    raised = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "safety.alert_raised")
    ).all()
    session.commit()
    assert len(raised) == 1


def test_an_ehr_sees_a_stopped_exercise_as_on_hold_in_fhir(client, world):
    from tests.fhir_r4 import validate_r4

    programme = active_programme(client, world.a)
    bridge, cat = item_ids(programme)
    post_log(client, world.a, log_body(programme, bridge, datetime.now(UTC).isoformat(), pain_during=8))
    plan = client.get(f"/fhir/r4/CarePlan/{programme['id']}", headers=world.a.headers["api_key"]).json()
    validate_r4(plan)
    by_item = {activity["id"]: activity["detail"] for activity in plan["activity"]}
    assert by_item[bridge]["status"] == "on-hold"
    assert by_item[bridge]["statusReason"]["text"] == "Stopped after a red session: pain_above_5"
    assert by_item[cat]["status"] == "in-progress" and "statusReason" not in by_item[cat]


# --- check-ins: repeated answers, and a hold that cannot be placed ------------------------------------------


def raised_events(session, tenant) -> list[dict]:
    events = session.exec(
        select(Event)
        .where(Event.clinic_id == tenant.clinic.id, Event.type == "safety.alert_raised")
        .order_by(Event.occurred_at, Event.id)
    ).all()
    session.commit()
    return [event.data for event in events]


def all_alerts(client, tenant) -> list[dict]:
    """Every alert of the patient, resolved ones too."""
    params = {"patient_id": str(tenant.patient.id)}
    headers = tenant.headers["physio"]
    unresolved = client.get("/v1/alerts", params=params, headers=headers).json()["items"]
    resolved = client.get("/v1/alerts", params=params | {"status": "resolved"}, headers=headers).json()
    return unresolved + resolved["items"]


def test_a_repeated_urgent_answer_extends_the_open_alert_and_tells_the_queue_again(client, world, session):
    programme = active_programme(client, world.a)
    first = check(client, world.a, fever_or_unwell=True)
    again = check(client, world.a, fever_or_unwell=True)
    assert again["alert_raised"] is True and again["programme_paused"] is False
    assert "Your clinic has been told." in again["instruction"]
    [alert] = all_alerts(client, world.a)
    assert alert["tier"] == "urgent" and alert["evidence"] == [first["id"], again["id"]]
    assert alert["reasons"] == ["possible_infection"]
    assert [event["alert_id"] for event in raised_events(session, world.a)] == [alert["id"], alert["id"]]
    assert staff_view(client, world.a, programme["id"])["safety_hold"]["alert_id"] == alert["id"]


def test_a_repeated_routine_answer_is_news_only_when_its_reasons_grow(client, world, session):
    first = check(client, world.a, morning_stiffness=True)
    client.post(
        f"/v1/alerts/{all_alerts(client, world.a)[0]['id']}/acknowledge", headers=world.a.headers["physio"]
    )
    same = check(client, world.a, morning_stiffness=True)  # acknowledged is not resolved: extended
    assert same["alert_raised"] is True
    assert "Your physio has been told and will check this with you." in same["instruction"]
    assert len(raised_events(session, world.a)) == 1
    more = check(client, world.a, morning_stiffness=True, night_pain=True)
    [alert] = all_alerts(client, world.a)
    assert alert["status"] == "acknowledged"
    assert alert["evidence"] == [first["id"], same["id"], more["id"]]
    assert alert["reasons"] == ["possible_inflammatory_pain", "night_pain_review"]
    assert [event["reasons"] for event in raised_events(session, world.a)] == [
        ["possible_inflammatory_pain"],
        ["possible_inflammatory_pain", "night_pain_review"],
    ]


def test_another_tier_or_a_resolved_alert_gets_a_new_alert(client, world):
    routine = check(client, world.a, morning_stiffness=True)
    urgent = check(client, world.a, fever_or_unwell=True)
    tiers = {alert["tier"]: alert for alert in all_alerts(client, world.a)}
    assert tiers["routine"]["evidence"] == [routine["id"]] and tiers["urgent"]["evidence"] == [urgent["id"]]
    resolved = client.post(
        f"/v1/alerts/{tiers['urgent']['id']}/resolve",
        json={"note": "Phoned: a cold, no fever now."},
        headers=world.a.headers["physio"],
    )
    assert resolved.status_code == 200, resolved.text
    later = check(client, world.a, fever_or_unwell=True)
    urgent_alerts = [alert for alert in all_alerts(client, world.a) if alert["tier"] == "urgent"]
    assert sorted(alert["evidence"] for alert in urgent_alerts) == sorted([[urgent["id"]], [later["id"]]])


def test_the_alert_is_kept_when_the_hold_cannot_be_placed(client, world, monkeypatch):
    programme = active_programme(client, world.a)

    def changed_meanwhile(*args, **kwargs):
        raise PreconditionFailed("The programme changed meanwhile.")

    monkeypatch.setattr(programme_changes, "set_safety_hold", changed_meanwhile)
    result = check(client, world.a, bladder_change=True)
    monkeypatch.undo()
    assert result["recorded"] is True and result["alert_raised"] is True and result["id"]
    assert result["programme_paused"] is False
    assert result["instruction"][0].startswith("Go to an emergency department now")
    assert "Your clinic has been told." in result["instruction"]
    assert not [line for line in result["instruction"] if "paused" in line]
    [alert] = open_alerts(client, world.a)
    assert alert["tier"] == "emergency" and alert["evidence"] == [result["id"]]
    held = staff_view(client, world.a, programme["id"])
    assert held["status"] == "active" and held["safety_hold"] is None
    # The alert still stops anyone resuming or activating until a clinician resolves it.
    draft = draft_programme(client, world.a)
    activate = f"/v1/programmes/{draft['id']}/activate"
    assert_problem(client.post(activate, headers=world.a.headers["physio"]), 409, "safety_hold")
