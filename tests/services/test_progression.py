"""The progression engine over weeks of synthetic logs (the same code as `hep simulate`), and its API."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app import simulation
from app.models.programme import ProgrammeRevision
from app.models.programme_document import DOSE_BOUNDS, ProgrammeCreate
from app.models.progression import ProgressionSuggestion
from tests.factories import make_clinic
from tests.helpers import assert_problem
from tests.logging_helpers import document_of

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday, weeks before "now"
REPS_RULE = {"variable": "reps", "step": 2, "ceiling": 14, "sessions_needed": 2, "at_ceiling": "advance"}


def bridge_programme(auto="auto", rule=REPS_RULE, criteria=None, extra_items=()):
    return ProgrammeCreate.model_validate(
        {
            "title": "Bridges",
            "start_date": START.date(),
            "auto_progress": auto,
            "phases": [
                {
                    "name": "Strength",
                    "advance_criteria": criteria or {},
                    "items": [
                        {"exercise": "double-leg-bridge", "sets": 2, "reps": 10, "progression_rule": rule},
                        *extra_items,
                    ],
                },
                {"name": "Next", "items": [{"exercise": "cat-camel", "reps": 6}]},
            ],
        }
    )


def before_locked_step(reps: int) -> ProgrammeCreate:
    """The exhale-sag press-up with a rule whose ceiling leads on to the locked overpressure step."""
    item = {
        "exercise": "prone-press-up-exhale-sag",
        "sets": 1,
        "reps": reps,
        "progression_rule": {**REPS_RULE, "ceiling": 12},
    }
    return ProgrammeCreate.model_validate(
        {
            "title": "Extension",
            "start_date": START.date(),
            "auto_progress": "auto",
            "phases": [{"name": "One", "items": [item]}],
        }
    )


def play(session, document, pattern, days):
    clinic = make_clinic(session)
    session.commit()
    return simulation.run(session, clinic.id, document, pattern, days, START)


def changes(lines):
    return [change for line in lines for change in line.changes]


def test_steady_progress_climbs_the_chain_and_advances_the_phase(session):
    criteria = {"min_days": 10, "green_streak": 3, "min_adherence_pct": 80}
    programme, lines = play(
        session, bridge_programme(criteria=criteria), simulation.PATTERNS["steady"][1], 16
    )
    assert changes(lines)[2:6] == [
        "double-leg-bridge: reps 10 → 12",
        "double-leg-bridge: reps 12 → 14",
        "double-leg-bridge → banded-bridge",
        "banded-bridge: reps 10 → 12",
    ]
    phase_line = next(line for line in lines if any(c.startswith("phase 1 → 2") for c in line.changes))
    assert phase_line.day >= 10 and phase_line.reason == "progression"
    assert programme.current_phase == 1
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))


def test_a_red_session_stops_the_item_offers_a_step_back_and_freezes_progression(session):
    def flare(day, slug, n):
        return simulation.RED if day in (6, 7) else simulation.GREEN

    programme, lines = play(session, bridge_programme(rule={**REPS_RULE, "regression_step": 4}), flare, 14)
    regressions = [line for line in lines if line.reason == "regression"]
    # The first red session stops the exercise (one revision); the engine never applies a step back itself.
    [stop] = regressions
    assert stop.day == 6
    [change] = stop.changes
    assert change.endswith("stopped (pain_above_5, leg_symptoms_spread)")
    name = change.split(" stopped")[0]
    [offer] = session.exec(
        select(ProgressionSuggestion).where(
            ProgressionSuggestion.programme_id == programme.id, ProgressionSuggestion.direction == "regress"
        )
    ).all()
    session.commit()
    assert offer.status == "pending" and offer.kind == "dose"
    assert offer.change["to"] == max(1, offer.change["from"] - 4)
    assert name in ("double-leg-bridge", "banded-bridge")
    # The red sessions raised an alert nobody has closed: nothing progresses after them.
    assert all(line.reason != "progression" for line in lines if line.day >= 6)


def test_low_adherence_holds(session):
    programme, lines = play(session, bridge_programme(), simulation.PATTERNS["low-adherence"][1], 21)
    assert [line.reason for line in lines] == ["edit", "status"]


def test_a_directional_step_and_a_locked_next_step_are_only_suggested(session, client, world):
    document = before_locked_step(reps=12)  # at the ceiling: the next step is the locked overpressure
    steady = simulation.PATTERNS["steady"]
    programme, lines = simulation.run(
        session, make_clinic(session).id, document, steady[1], 6, START, mornings=steady[2]
    )
    assert [line.reason for line in lines] == ["edit", "status"]  # nothing applied by the engine
    pending = session.exec(
        select(ProgressionSuggestion)
        .where(ProgressionSuggestion.programme_id == programme.id)
        .where(ProgressionSuggestion.status == "pending")
    ).all()
    session.commit()
    assert [(s.kind, s.change["exercise_to"]) for s in pending] == [
        ("exercise", "prone-press-up-overpressure")
    ]


def test_an_open_alert_freezes_progression(session):
    from app.models.common import Actor
    from app.services import safety

    def alert_on_day_zero(day, programme):
        if day == 0:  # e.g. a routine check-in answer on the first evening, never closed
            actor = Actor(kind="patient", id=programme.patient_id, clinic_id=programme.clinic_id)
            safety.raise_alert(session, actor, programme.patient_id, "routine", ["test"], [], "symptom_check")
            session.commit()

    clinic = make_clinic(session)
    session.commit()
    _, lines = simulation.run(
        session,
        clinic.id,
        bridge_programme(),
        simulation.PATTERNS["steady"][1],
        10,
        START,
        on_day=alert_on_day_zero,
    )
    assert [line.reason for line in lines] == ["edit", "status"]


def test_paused_and_off_programmes_do_not_change(session):
    _, lines = play(session, bridge_programme(auto="off"), simulation.PATTERNS["steady"][1], 10)
    assert [line.reason for line in lines] == ["edit", "status"]


# --- suggest mode and the clinician's side ---------------------------------------------------------------


def _api_programme(client, tenant, auto="suggest"):
    body = {
        "title": "Bridges",
        "start_date": "2026-11-02",
        "auto_progress": auto,
        "phases": [
            {
                "name": "One",
                "items": [
                    {"exercise": "double-leg-bridge", "sets": 2, "reps": 10, "progression_rule": REPS_RULE}
                ],
            }
        ],
    }
    created = client.post(
        f"/v1/patients/{tenant.patient.id}/programmes", json=body, headers=tenant.headers["physio"]
    )
    programme = client.post(
        f"/v1/programmes/{created.json()['id']}/activate", headers=tenant.headers["physio"]
    ).json()
    return programme


def _green_logs(client, tenant, programme, count, start, reps=10):
    from tests.logging_helpers import item_ids, log_body

    for i in range(count):
        when = (start + timedelta(hours=i)).isoformat()
        body = log_body(
            programme, item_ids(programme)[0], when, response="better", reps_done=[reps, reps], effort=4
        )
        assert client.post("/v1/me/sessions", json=body, headers=tenant.headers["patient"]).status_code == 201


def _backdate(session, programme, moment):
    from tests.logging_helpers import backdate_activation

    backdate_activation(session, programme, moment)
    session.commit()


def test_suggest_mode_accept_and_reject(client, world, session):
    programme = _api_programme(client, world.a)
    _backdate(session, programme, datetime(2026, 11, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    _green_logs(client, world.a, programme, 2, now - timedelta(days=1, hours=3))
    # Adherence needs whole past days: log the days before too.
    for days_ago in range(2, 8):
        _green_logs(client, world.a, programme, 1, now - timedelta(days=days_ago))
    headers = world.a.headers["physio"]
    listed = client.get(
        f"/v1/programmes/{programme['id']}/suggestions", params={"status": "pending"}, headers=headers
    )
    [suggestion] = listed.json()["items"]
    assert (
        suggestion["change"] == {"variable": "reps", "from": 10, "to": 12}
        and len(suggestion["evidence"]) == 2
    )
    current = client.get(f"/v1/programmes/{programme['id']}", headers=headers).json()
    assert current["revision"] == 2  # suggest mode changes nothing by itself

    assert_problem(
        client.post(f"/v1/suggestions/{suggestion['id']}/accept", headers=world.a.headers["api_key"]), 403
    )
    stale = client.post(f"/v1/suggestions/{suggestion['id']}/accept", headers={**headers, "If-Match": '"1"'})
    assert_problem(stale, 412, "stale_revision")
    accepted = client.post(
        f"/v1/suggestions/{suggestion['id']}/accept", headers={**headers, "If-Match": '"2"'}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["applied_revision"] == 3
    after = client.get(f"/v1/programmes/{programme['id']}", headers=headers).json()
    assert after["phases"][0]["items"][0]["reps"] == 12
    revision = client.get(f"/v1/programmes/{programme['id']}/revisions/3", headers=headers).json()
    assert revision["reason"] == "progression" and revision["author_id"] == str(world.a.physio.id)
    assert_problem(
        client.post(f"/v1/suggestions/{suggestion['id']}/accept", headers=headers), 409, "invalid_transition"
    )

    # Two more green sessions at the new dose: a new proposal; rejected, it is not made again.
    _green_logs(client, world.a, {**programme, "revision": 3}, 2, now - timedelta(hours=2), reps=12)
    [second] = client.get(
        f"/v1/programmes/{programme['id']}/suggestions", params={"status": "pending"}, headers=headers
    ).json()["items"]
    rejected = client.post(
        f"/v1/suggestions/{second['id']}/reject", json={"reason": "Wait for review"}, headers=headers
    )
    assert (
        rejected.json()["status"] == "rejected" and rejected.json()["rejection_reason"] == "Wait for review"
    )
    again = client.post(f"/v1/programmes/{programme['id']}/evaluate", headers=headers)
    assert again.status_code == 200 and again.json() == []
    assert_problem(
        client.post(f"/v1/suggestions/{second['id']}/reject", json={"reason": "x"}, headers=headers), 409
    )


def test_accepting_a_locked_step_is_the_clinicians_unlock(session, client, world):
    document = before_locked_step(reps=12)
    steady = simulation.PATTERNS["steady"]
    programme, _ = simulation.run(
        session, world.a.clinic.id, document, steady[1], 4, START, mornings=steady[2]
    )
    [pending] = client.get(
        f"/v1/programmes/{programme.id}/suggestions",
        params={"status": "pending"},
        headers=world.a.headers["physio"],
    ).json()["items"]
    accepted = client.post(f"/v1/suggestions/{pending['id']}/accept", headers=world.a.headers["physio"])
    assert accepted.status_code == 200, accepted.text
    item = client.get(f"/v1/programmes/{programme.id}", headers=world.a.headers["physio"]).json()["phases"][
        0
    ]["items"][0]
    assert item["exercise_slug"] == "prone-press-up-overpressure"
    assert item["requires_clinician_unlock"] is True and item["clinician_unlocked"] is True


# --- properties over random log sequences -------------------------------------------------------------------

REPORTS = st.sampled_from(["green", "green", "green", "yellow", "red", "skip", "short"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(REPORTS, min_size=5, max_size=40), regression_step=st.sampled_from([None, 2, 6]))
def test_doses_stay_in_bounds_one_change_per_revision_and_no_gaps(session, script, regression_step):
    reports = {"green": simulation.GREEN, "yellow": simulation.SAME, "red": simulation.RED}
    counter = iter(range(10_000))

    def scripted(day, slug, n):
        step = script[next(counter) % len(script)]
        if step == "skip":
            return None
        if step == "short":
            return {**simulation.GREEN, "sets_done": 1}
        return reports[step]

    rule = {**REPS_RULE, "regression_step": regression_step}
    extra = [
        {
            "exercise": "knee-plank",
            "reps": 3,
            "hold_s": 10,
            "progression_rule": {
                "variable": "hold_s",
                "step": 5,
                "ceiling": 30,
                "at_ceiling": "hold",
                "regression_step": regression_step,
            },
        }
    ]
    programme, lines = play(
        session, bridge_programme(rule=rule, extra_items=extra, criteria={"green_streak": 6}), scripted, 12
    )
    snapshots = session.exec(
        select(ProgrammeRevision)
        .where(ProgrammeRevision.programme_id == programme.id)
        .order_by(ProgrammeRevision.number)
    ).all()
    session.commit()
    assert [s.number for s in snapshots] == list(range(1, len(snapshots) + 1))
    for revision in snapshots:
        for phase in revision.snapshot["programme"]["phases"]:
            for item in phase["items"]:
                for field, (low, high) in DOSE_BOUNDS.items():
                    assert item[field] is None or low <= item[field] <= high
                rule_now = item["progression_rule"]
                if rule_now:
                    assert item[rule_now["variable"]] <= rule_now["ceiling"]
    for line in lines[2:]:
        assert len(line.changes) <= 1, line


# --- suggestion hygiene: a rejection's window, and what supersedes a pending suggestion -----------------


def _suggestions(client, tenant, programme_id, status="pending"):
    return client.get(
        f"/v1/programmes/{programme_id}/suggestions",
        params={"status": status},
        headers=tenant.headers["physio"],
    ).json()["items"]


def _edit(client, tenant, programme_id, change):
    """PUT the programme back as it is, with change(document) applied."""
    headers = tenant.headers["physio"]
    current = client.get(f"/v1/programmes/{programme_id}", headers=headers).json()
    document = document_of(current)
    change(document)
    response = client.put(
        f"/v1/programmes/{programme_id}",
        json=document,
        headers={**headers, "If-Match": f'"{current["revision"]}"'},
    )
    assert response.status_code == 200, response.text


def _with_pending(session, world) -> uuid.UUID:
    """Three simulated days in suggest mode: a bridge reps step and the phase advance wait for the physio."""
    document = bridge_programme(auto="suggest", criteria={"min_sessions": 2})
    programme, _ = simulation.run(
        session, world.a.clinic.id, document, simulation.PATTERNS["steady"][1], 3, START
    )
    return programme.id


def test_a_rejected_change_waits_for_its_window_of_new_sessions(client, world, session):
    programme = _api_programme(client, world.a)  # reps 10 → 12 after 2 green sessions in a row
    _backdate(session, programme, datetime(2026, 11, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    for days_ago in range(7, 0, -1):  # a week of whole days, so adherence is met
        _green_logs(client, world.a, programme, 1, now - timedelta(days=days_ago))
    [first] = _suggestions(client, world.a, programme["id"])
    assert first["change"] == {"variable": "reps", "from": 10, "to": 12}
    headers = world.a.headers["physio"]
    url = f"/v1/suggestions/{first['id']}/reject"
    rejected = client.post(url, json={"reason": "Not yet"}, headers=headers)
    assert rejected.status_code == 200, rejected.text

    # One more green session: two in a row again, but one of them was judged before the rejection.
    _green_logs(client, world.a, programme, 1, now - timedelta(hours=2))
    assert _suggestions(client, world.a, programme["id"]) == []
    assert client.post(f"/v1/programmes/{programme['id']}/evaluate", headers=headers).json() == []
    # A second new session: the rule's whole window came after the rejection, so it is proposed again.
    _green_logs(client, world.a, programme, 1, now - timedelta(hours=1))
    [again] = _suggestions(client, world.a, programme["id"])
    assert again["change"] == first["change"] and again["id"] != first["id"]
    assert not set(again["evidence"]) & set(first["evidence"])


def test_a_rejected_phase_advance_waits_for_the_phases_sessions(client, world):
    headers = world.a.headers["physio"]
    body = {
        "title": "Two phases",
        "start_date": "2026-11-02",
        "auto_progress": "suggest",
        "phases": [
            {
                "name": "One",
                "advance_criteria": {"min_sessions": 2},
                "items": [{"exercise": "cat-camel", "reps": 6}],
            },
            {"name": "Two", "items": [{"exercise": "cat-camel", "reps": 8}]},
        ],
    }
    created = client.post(f"/v1/patients/{world.a.patient.id}/programmes", json=body, headers=headers)
    programme = client.post(f"/v1/programmes/{created.json()['id']}/activate", headers=headers).json()

    def log() -> None:
        from tests.logging_helpers import item_ids, log_body

        body = log_body(programme, item_ids(programme)[0], datetime.now(UTC).isoformat(), response="better")
        logged = client.post("/v1/me/sessions", json=body, headers=world.a.headers["patient"])
        assert logged.status_code == 201, logged.text

    log()
    log()
    [advance] = _suggestions(client, world.a, programme["id"])
    assert advance["kind"] == "phase" and advance["change"] == {"phase_from": 0, "phase_to": 1}
    client.post(f"/v1/suggestions/{advance['id']}/reject", json={"reason": "Not yet"}, headers=headers)
    log()  # min_sessions is 2: one session after the rejection is not enough
    assert _suggestions(client, world.a, programme["id"]) == []
    log()
    [again] = _suggestions(client, world.a, programme["id"])
    assert again["kind"] == "phase" and again["id"] != advance["id"]


def test_an_edit_supersedes_the_suggestions_it_makes_moot(session, client, world):
    programme_id = _with_pending(session, world)
    pending = {s["kind"]: s for s in _suggestions(client, world.a, programme_id)}
    assert set(pending) == {"dose", "phase"}

    def retitle(document):
        document["title"] = "Bridges, renamed"

    _edit(client, world.a, programme_id, retitle)
    # Any edit may change the phase criteria: the proposed advance goes; the bridge was not touched.
    assert [s["id"] for s in _suggestions(client, world.a, programme_id)] == [pending["dose"]["id"]]
    [phase] = _suggestions(client, world.a, programme_id, "superseded")
    assert phase["id"] == pending["phase"]["id"]
    assert phase["decided_by"] is None and phase["decided_at"] is not None

    def fewer_reps(document):
        document["phases"][0]["items"][0]["reps"] = 8

    _edit(client, world.a, programme_id, fewer_reps)
    assert _suggestions(client, world.a, programme_id) == []
    superseded = _suggestions(client, world.a, programme_id, "superseded")
    assert {s["id"] for s in superseded} == {pending["dose"]["id"], pending["phase"]["id"]}
    headers = world.a.headers["physio"]
    url = f"/v1/suggestions/{pending['dose']['id']}"
    assert_problem(client.post(f"{url}/accept", headers=headers), 409, "suggestion_superseded")
    assert_problem(
        client.post(f"{url}/reject", json={"reason": "x"}, headers=headers), 409, "suggestion_superseded"
    )
    item = client.get(f"/v1/programmes/{programme_id}", headers=headers).json()["phases"][0]["items"][0]
    assert item["reps"] == 8


def test_a_phase_advance_supersedes_the_finished_phases_suggestions(session, client, world):
    programme_id = _with_pending(session, world)
    pending = {s["kind"]: s for s in _suggestions(client, world.a, programme_id)}
    headers = world.a.headers["physio"]
    accepted = client.post(f"/v1/suggestions/{pending['phase']['id']}/accept", headers=headers)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
    [dose] = _suggestions(client, world.a, programme_id, "superseded")
    assert dose["id"] == pending["dose"]["id"]
    assert_problem(
        client.post(f"/v1/suggestions/{dose['id']}/accept", headers=headers), 409, "suggestion_superseded"
    )
    programme = client.get(f"/v1/programmes/{programme_id}", headers=headers).json()
    assert programme["current_phase"] == 1 and programme["phases"][0]["items"][0]["reps"] == 10


@pytest.mark.parametrize("action", ["pause", "complete", "cancel"])
def test_pausing_or_ending_a_programme_supersedes_its_suggestions(session, client, world, action):
    programme_id = _with_pending(session, world)
    headers = world.a.headers["physio"]
    assert client.post(f"/v1/programmes/{programme_id}/{action}", headers=headers).status_code == 200
    assert _suggestions(client, world.a, programme_id) == []
    superseded = _suggestions(client, world.a, programme_id, "superseded")
    assert sorted(s["kind"] for s in superseded) == ["dose", "phase"]
    assert_problem(
        client.post(f"/v1/suggestions/{superseded[0]['id']}/accept", headers=headers),
        409,
        "suggestion_superseded",
    )
