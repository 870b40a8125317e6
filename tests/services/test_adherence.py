"""Adherence on hand-computed fixtures, the daily plan across timezones and weekdays, and progress."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from app.models.patient import Patient
from app.services.adherence import today
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, item_ids, log_body
from tests.test_store import counting

BEFORE_START = datetime(2026, 11, 1, 8, tzinfo=UTC)


def _log(client, tenant, programme, item, when: str, **fields):
    response = client.post(
        "/v1/me/sessions", json=log_body(programme, item, when, **fields), headers=tenant.headers["patient"]
    )
    assert response.status_code == 201, response.text


def test_adherence_matches_a_hand_computed_week(client, world):
    # Bridge: twice a day on Mon/Wed/Fri; cat-camel: once a day, every day. Week of Mon 2 Nov 2026.
    client.patch(
        f"/v1/patients/{world.a.patient.id}",
        json={"timezone": "Europe/London"},
        headers=world.a.headers["physio"],
    )
    programme = active_programme(client, world.a, backdate=BEFORE_START)
    bridge, cat = item_ids(programme)
    _log(client, world.a, programme, bridge, "2026-11-02T08:00:00+00:00")  # Mon: 1 of 2
    _log(client, world.a, programme, bridge, "2026-11-03T08:00:00+00:00")  # Tue: not due, not counted
    for hour in (8, 12, 18):  # Wed: 3 logged, capped at 2
        _log(client, world.a, programme, bridge, f"2026-11-04T{hour:02d}:00:00+00:00")
    for day in (2, 3, 4, 5):
        _log(client, world.a, programme, cat, f"2026-11-{day:02d}T07:00:00+00:00")
    for hour in (7, 19):  # Fri: 2 logged, capped at 1
        _log(client, world.a, programme, cat, f"2026-11-06T{hour:02d}:00:00+00:00")

    report = client.get(
        f"/v1/patients/{world.a.patient.id}/adherence",
        params={"from": "2026-11-02", "to": "2026-11-08"},
        headers=world.a.headers["physio"],
    ).json()
    # Due: bridge 3 days × 2 = 6, cat-camel 7 × 1 = 7 → 13. Done: bridge 1 + 2, cat-camel 4 + 1 → 8.
    assert (report["due"], report["done"], report["adherence"]) == (13, 8, round(8 / 13, 4))
    assert [(d["due"], d["done"]) for d in report["by_day"]] == [
        (3, 2),
        (1, 1),
        (3, 3),
        (1, 1),
        (3, 1),
        (1, 0),
        (1, 0),
    ]
    assert report["by_week"] == [
        {"week_start": "2026-11-02", "due": 13, "done": 8, "adherence": round(8 / 13, 4)}
    ]
    by_item = {i["item_id"]: (i["due"], i["done"]) for i in report["by_item"]}
    assert by_item == {bridge: (6, 3), cat: (7, 5)}


def test_days_outside_programme_dates_and_before_activation_are_not_due(client, world):
    programme = active_programme(
        client,
        world.a,
        start_date="2026-11-04",
        items=[{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}],
        backdate=BEFORE_START,
    )
    report = client.get(
        f"/v1/patients/{world.a.patient.id}/adherence",
        params={"from": "2026-11-01", "to": "2026-11-05"},
        headers=world.a.headers["physio"],
    ).json()
    assert [d["due"] for d in report["by_day"]] == [0, 0, 0, 1, 1]
    assert report["adherence"] == 0.0
    empty = client.get(
        f"/v1/patients/{world.a.patient.id}/adherence",
        params={"from": "2026-10-01", "to": "2026-10-05"},
        headers=world.a.headers["physio"],
    ).json()
    assert empty["due"] == 0 and empty["adherence"] is None
    assert programme["status"] == "active"


def test_a_paused_day_is_not_due(client, world, session):
    from sqlalchemy import update

    from app.models.programme import ProgrammeRevision

    programme = active_programme(
        client,
        world.a,
        items=[{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}],
        backdate=BEFORE_START,
    )
    client.post(f"/v1/programmes/{programme['id']}/pause", headers=world.a.headers["physio"])
    client.post(f"/v1/programmes/{programme['id']}/resume", headers=world.a.headers["physio"])
    # Paused during 3 November, resumed during 5 November (revisions 3 and 4).
    for number, moment in (
        (3, datetime(2026, 11, 3, 10, tzinfo=UTC)),
        (4, datetime(2026, 11, 5, 10, tzinfo=UTC)),
    ):
        session.execute(
            update(ProgrammeRevision)
            .where(
                ProgrammeRevision.programme_id == uuid.UUID(programme["id"]),
                ProgrammeRevision.number == number,
            )
            .values(created_at=moment)
        )
    session.commit()
    report = client.get(
        f"/v1/patients/{world.a.patient.id}/adherence",
        params={"from": "2026-11-02", "to": "2026-11-06"},
        headers=world.a.headers["physio"],
    ).json()
    assert [d["due"] for d in report["by_day"]] == [1, 0, 0, 1, 1]


def test_local_day_follows_the_patients_timezone(client, world):
    client.patch(
        f"/v1/patients/{world.a.patient.id}",
        json={"timezone": "Pacific/Auckland"},
        headers=world.a.headers["physio"],
    )
    client.patch(
        f"/v1/patients/{world.b.patient.id}",
        json={"timezone": "America/Los_Angeles"},
        headers=world.b.headers["physio"],
    )
    instant = "2026-11-03T11:30:00+00:00"  # Wed 00:30 in Auckland, Tue 03:30 in Los Angeles
    mine = active_programme(client, world.a, backdate=BEFORE_START)
    theirs = active_programme(client, world.b, backdate=BEFORE_START)
    _log(client, world.a, mine, item_ids(mine)[0], instant)
    _log(client, world.b, theirs, item_ids(theirs)[0], instant)
    auckland = client.get("/v1/me/sessions", headers=world.a.headers["patient"]).json()["items"][0]
    los_angeles = client.get("/v1/me/sessions", headers=world.b.headers["patient"]).json()["items"][0]
    assert (auckland["local_date"], los_angeles["local_date"]) == ("2026-11-04", "2026-11-03")
    # The bridge is due on Wednesdays only: Auckland's log counts, Los Angeles' (a Tuesday) does not.
    week = {"from": "2026-11-02", "to": "2026-11-08"}
    a = client.get(
        f"/v1/patients/{world.a.patient.id}/adherence", params=week, headers=world.a.headers["physio"]
    ).json()
    b = client.get(
        f"/v1/patients/{world.b.patient.id}/adherence", params=week, headers=world.b.headers["physio"]
    ).json()
    assert {i["item_id"]: i["done"] for i in a["by_item"]}[item_ids(mine)[0]] == 1
    assert {i["item_id"]: i["done"] for i in b["by_item"]}[item_ids(theirs)[0]] == 0


def test_same_utc_instant_is_a_different_today():
    instant = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
    auckland = Patient(clinic_id=None, display_name="A", timezone="Pacific/Auckland")  # type: ignore[arg-type]
    los_angeles = Patient(clinic_id=None, display_name="B", timezone="America/Los_Angeles")  # type: ignore[arg-type]
    assert today(auckland.timezone, instant) == date(2026, 11, 22)
    assert today(los_angeles.timezone, instant) == date(2026, 11, 21)


def test_window_is_validated(client, world):
    url = f"/v1/patients/{world.a.patient.id}/adherence"
    headers = world.a.headers["physio"]
    assert_problem(
        client.get(url, params={"from": "2026-11-05", "to": "2026-11-01"}, headers=headers),
        400,
        "invalid_window",
    )
    assert_problem(
        client.get(url, params={"from": "2024-01-01", "to": "2026-11-01"}, headers=headers),
        400,
        "invalid_window",
    )
    assert_problem(client.get(url, params={"from": "yesterday"}, headers=headers), 422)


def test_plan_for_a_day(client, world):
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    programme = active_programme(client, world.a, backdate=BEFORE_START)
    bridge, cat = item_ids(programme)
    _log(client, world.a, programme, bridge, "2026-11-04T09:00:00+00:00")
    wednesday = client.get(
        "/v1/me/plan", params={"date": "2026-11-04"}, headers=world.a.headers["patient"]
    ).json()
    assert wednesday["programme_id"] == programme["id"] and wednesday["revision"] == 2
    items = {i["item_id"]: i for i in wednesday["items"]}
    assert (
        items[bridge]["sessions_due"],
        items[bridge]["sessions_done"],
        items[bridge]["sessions_remaining"],
    ) == (2, 1, 1)
    assert (items[cat]["sessions_due"], items[cat]["sessions_done"]) == (1, 0)
    assert items[bridge]["exercise"]["name"] == "Puente" and items[bridge]["reps"] == 10
    assert wednesday["next_item_id"] == bridge
    tuesday = client.get(
        "/v1/me/plan", params={"date": "2026-11-03"}, headers=world.a.headers["patient"]
    ).json()
    assert {i["item_id"]: i["sessions_due"] for i in tuesday["items"]} == {bridge: 0, cat: 1}
    assert tuesday["next_item_id"] == cat
    before = client.get(
        "/v1/me/plan", params={"date": "2026-11-01"}, headers=world.a.headers["patient"]
    ).json()
    assert all(i["sessions_due"] == 0 for i in before["items"]) and before["next_item_id"] is None
    assert_problem(
        client.get("/v1/me/plan", params={"date": "2031-01-01"}, headers=world.a.headers["patient"]), 400
    )


def test_a_kept_plan_follows_the_days_logs_and_the_programme(client, world):
    """A day's plan is rendered once for everything it is made of: every read after a change shows it."""
    programme = active_programme(client, world.a, backdate=BEFORE_START)
    bridge, _ = item_ids(programme)
    headers = world.a.headers["patient"]

    def plan(day: str = "2026-11-04") -> dict:
        return client.get("/v1/me/plan", params={"date": day}, headers=headers).json()

    def done(read: dict) -> int:
        return {item["item_id"]: item["sessions_done"] for item in read["items"]}[bridge]

    first = plan()
    assert plan() == first and done(first) == 0
    _log(client, world.a, programme, bridge, "2026-11-04T09:00:00+00:00")
    assert done(plan()) == 1 and done(plan("2026-11-03")) == 0
    _log(client, world.a, programme, bridge, "2026-11-04T10:00:00+00:00")
    assert done(plan()) == 2
    paused = client.post(
        f"/v1/programmes/{programme['id']}/pause", json={}, headers=world.a.headers["physio"]
    )
    assert paused.status_code == 200, paused.text
    after = plan()
    assert (after["programme_status"], after["revision"]) == ("paused", paused.json()["revision"])
    # Another clinic's patient on the same day reads their own programme, never this one.
    other = active_programme(client, world.b, backdate=BEFORE_START)
    theirs = client.get(
        "/v1/me/plan", params={"date": "2026-11-04"}, headers=world.b.headers["patient"]
    ).json()
    assert theirs["programme_id"] == other["id"] != programme["id"]


@pytest.mark.parametrize("timezone", ["Pacific/Kiritimati", "UTC", "Pacific/Pago_Pago"])
def test_todays_plan_counts_the_sessions_logged_today_at_either_end_of_the_clock(client, world, timezone):
    """Today's logged items come with the caller's row, for each day that can be today somewhere (UTC+14 to
    UTC-11 here); a day that cannot be today anywhere is read on its own (test_plan_for_a_day)."""
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"timezone": timezone}, headers=world.a.headers["physio"]
    )
    programme = active_programme(client, world.a, backdate=BEFORE_START)
    _, cat = item_ids(programme)
    _log(client, world.a, programme, cat, datetime.now(UTC).isoformat())
    with counting() as counter:
        plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    assert not any(statement.startswith("SELECT session_log.item_id") for statement in counter.statements)
    assert plan["date"] == today(timezone).isoformat()
    items = {item["item_id"]: item for item in plan["items"]}
    assert (items[cat]["sessions_due"], items[cat]["sessions_done"]) == (1, 1)


def test_plan_defaults_to_the_patients_today_and_handles_no_programme(client, world, session):
    client.patch(
        f"/v1/patients/{world.a.patient.id}",
        json={"timezone": "Pacific/Auckland"},
        headers=world.a.headers["physio"],
    )
    plan = client.get("/v1/me/plan", headers=world.a.headers["patient"]).json()
    patient = session.get(Patient, world.a.patient.id)
    session.refresh(patient)
    session.commit()
    assert plan["date"] == today(patient.timezone).isoformat() and plan["timezone"] == "Pacific/Auckland"
    assert plan["programme_id"] is None and plan["items"] == []


def test_progress_charts_adherence_and_pain(client, world):
    programme = active_programme(client, world.a)
    bridge = item_ids(programme)[0]
    now = datetime.now(UTC)
    first, second = now - timedelta(seconds=2), now - timedelta(seconds=1)  # the same local day (UTC)
    if first.date() != second.date():
        first = second
    _log(client, world.a, programme, bridge, first.isoformat(), pain_during=4, pain_after=2)
    _log(client, world.a, programme, bridge, second.isoformat(), pain_during=8, pain_after=None)
    progress = client.get("/v1/me/progress", headers=world.a.headers["patient"]).json()
    assert len(progress["adherence"]["by_day"]) == 56
    [pain] = progress["pain"]
    assert (pain["sessions"], pain["pain_during_mean"], pain["pain_after_mean"], pain["red"]) == (
        2,
        6.0,
        2.0,
        1,
    )


def test_low_adherence_is_emitted_once_a_week(client, world, session):
    from sqlmodel import select
    from typer.testing import CliRunner

    from app.cli import cli
    from app.models.webhook import Event

    programme = active_programme(client, world.a, backdate=BEFORE_START)  # nothing logged since 2 November
    first = CliRunner().invoke(cli, ["run-jobs", "--clinic", world.a.clinic.slug])
    assert first.exit_code == 0, first.output
    assert "adherence_low" in first.output and "1 emitted" in first.output
    second = CliRunner().invoke(cli, ["run-jobs", "--clinic", world.a.clinic.slug])
    assert second.exit_code == 0 and "adherence_low" not in second.output  # this period has run
    emitted = session.exec(
        select(Event).where(Event.clinic_id == world.a.clinic.id, Event.type == "adherence.low")
    ).all()
    session.commit()
    assert [e.data["programme_id"] for e in emitted] == [programme["id"]]  # once, not twice
    assert emitted[0].data["done"] == 0 and emitted[0].data["due"] > 0
    assert emitted[0].data["threshold_percent"] == 60


def test_plan_and_adherence_agree_on_the_activation_day_and_the_day_before(client, world):
    client.patch(
        f"/v1/patients/{world.a.patient.id}",
        json={"timezone": "Pacific/Auckland"},
        headers=world.a.headers["physio"],
    )
    # Activated at 09:00 on Wednesday 4 November in Auckland (20:00 UTC on the 3rd); dated from 2 November.
    programme = active_programme(
        client,
        world.a,
        items=[{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}],
        backdate=datetime(2026, 11, 3, 20, tzinfo=UTC),
    )
    [cat] = item_ids(programme)
    early = log_body(programme, cat, "2026-11-03T19:00:00+00:00")  # 08:00 on the 4th: before activation
    refused = client.post("/v1/me/sessions", json=early, headers=world.a.headers["patient"])
    assert_problem(refused, 409, "before_activation")
    _log(client, world.a, programme, cat, "2026-11-03T22:00:00+00:00")  # 11:00 on the 4th

    def plan(day: str) -> list[tuple[int, int]]:
        answer = client.get("/v1/me/plan", params={"date": day}, headers=world.a.headers["patient"]).json()
        return [(item["sessions_due"], item["sessions_done"]) for item in answer["items"]]

    report = client.get(
        f"/v1/patients/{world.a.patient.id}/adherence",
        params={"from": "2026-11-03", "to": "2026-11-04"},
        headers=world.a.headers["physio"],
    ).json()
    assert [(day["due"], day["done"]) for day in report["by_day"]] == [(0, 0), (1, 1)]
    assert [plan("2026-11-03"), plan("2026-11-04")] == [[(0, 0)], [(1, 1)]]
