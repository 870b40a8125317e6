"""Remote monitoring on a hand-computed fixture: days with data per 30-day period, interaction minutes and
live contact per calendar month, the same in JSON and CSV; bad input; tenancy; the clinic-wide list."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from app.db import get_engine
from app.models.audit import AuditEvent
from app.models.safety import SymptomCheck
from app.models.safety_text import RED_FLAG_QUESTIONS
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme, item_ids, log_body

# Activated 08:00 UTC on 1 November 2026: 03:00 in New York, just after the clocks went back.
ACTIVATED = datetime(2026, 11, 1, 8, tzinfo=UTC)
DAILY = [{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}]


@pytest.fixture
def fixture(client, world):
    """The patient (America/New_York) and what they and the staff did, with each local day worked out.

    Days with data: 2 Nov (two logs), 4 Nov (a log at 03:00 UTC on the 5th = 22:00 on the 4th), 10 Nov
    (an outcome), 20 Nov (a symptom check), 30 Nov (a log; another at 04:30 UTC on 1 Dec = 23:30 on the
    30th), 1 Dec (an outcome at 02:00 UTC on the 2nd = 21:00 on the 1st).
    Interactions: 3 Nov 12 min async, 15 Nov 8 min live, 20 min live at 03:00 UTC on 1 Dec (22:00 on
    30 Nov: November), 2 Dec 5 min async.
    """
    tenant = world.a
    client.patch(
        f"/v1/patients/{tenant.patient.id}",
        json={"timezone": "America/New_York"},
        headers=tenant.headers["physio"],
    )
    programme = active_programme(client, tenant, items=DAILY, backdate=ACTIVATED)
    item = item_ids(programme)[0]
    for when in (
        "2026-11-02T14:00:00+00:00",
        "2026-11-02T20:00:00+00:00",
        "2026-11-05T03:00:00+00:00",
        "2026-11-30T12:00:00+00:00",
        "2026-12-01T04:30:00+00:00",
    ):
        logged = client.post(
            "/v1/me/sessions", json=log_body(programme, item, when), headers=tenant.headers["patient"]
        )
        assert logged.status_code == 201, logged.text
    for when in ("2026-11-10T15:00:00+00:00", "2026-12-02T02:00:00+00:00"):
        outcome = client.post(
            "/v1/me/outcomes",
            json={"instrument": "nprs", "answers": {"back": 4, "leg": 2}, "taken_at": when},
            headers=tenant.headers["patient"],
        )
        assert outcome.status_code == 201, outcome.text
    check = client.post(
        "/v1/me/symptom-checks",
        json={"answers": dict.fromkeys(RED_FLAG_QUESTIONS, False)},
        headers=tenant.headers["patient"],
    )
    assert check.status_code == 201, check.text
    with Session(get_engine()) as session:  # it was made now; it happened on 20 November
        session.execute(
            update(SymptomCheck)
            .where(SymptomCheck.patient_id == tenant.patient.id)
            .values(created_at=datetime(2026, 11, 20, 18, tzinfo=UTC))
        )
        session.commit()
    for minutes, kind, when in (
        (12, "async", "2026-11-03T15:00:00+00:00"),
        (8, "live", "2026-11-15T16:00:00-05:00"),
        (20, "live", "2026-12-01T03:00:00+00:00"),
        (5, "async", "2026-12-02T15:00:00+00:00"),
    ):
        made = client.post(
            f"/v1/patients/{tenant.patient.id}/interactions",
            json={"minutes": minutes, "kind": kind, "occurred_at": when, "note": "Call about the plan"},
            headers=tenant.headers["physio"],
        )
        assert made.status_code == 201, made.text
    return tenant


def _report(client, tenant, **params):
    return client.get(
        f"/v1/patients/{tenant.patient.id}/monitoring", params=params, headers=tenant.headers["physio"]
    )


def test_the_report_matches_the_hand_computed_figures(client, fixture):
    response = _report(client, fixture, **{"from": "2026-11-01", "to": "2026-12-02"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"], body["timezone"]) == ("2026-11-01", "2026-12-02", "America/New_York")
    assert body["periods"] == [
        {"start": "2026-11-01", "end": "2026-11-30", "complete": True, "days_with_data": 5},
        {"start": "2026-12-01", "end": "2026-12-30", "complete": False, "days_with_data": 1},
    ]
    assert body["months"] == [
        {"month": "2026-11", "complete": True, "interaction_minutes": 40, "live_contact": True},
        {"month": "2026-12", "complete": False, "interaction_minutes": 5, "live_contact": False},
    ]
    # Monitoring began on the day of the first activation: the default window starts there.
    default = _report(client, fixture, to="2026-12-02").json()
    assert default["periods"] == body["periods"]


def test_a_narrower_window_counts_only_its_days(client, fixture):
    body = _report(client, fixture, **{"from": "2026-11-05", "to": "2026-11-20"}).json()
    assert body["periods"] == [
        {"start": "2026-11-05", "end": "2026-12-04", "complete": False, "days_with_data": 2}
    ]
    assert body["months"] == [
        {"month": "2026-11", "complete": False, "interaction_minutes": 8, "live_contact": True}
    ]


def test_csv_carries_the_same_figures(client, fixture):
    response = client.get(
        f"/v1/patients/{fixture.patient.id}/monitoring",
        params={"from": "2026-11-01", "to": "2026-12-02"},
        headers=fixture.headers["physio"] | {"accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    patient = fixture.patient.id
    assert response.text == (
        "patient_id,timezone,row,start,end,complete,days_with_data,interaction_minutes,live_contact\r\n"
        f"{patient},America/New_York,period,2026-11-01,2026-11-30,true,5,,\r\n"
        f"{patient},America/New_York,period,2026-12-01,2026-12-30,false,1,,\r\n"
        f"{patient},America/New_York,month,2026-11-01,2026-11-30,true,,40,true\r\n"
        f"{patient},America/New_York,month,2026-12-01,2026-12-31,false,,5,false\r\n"
    )
    assert "Call about the plan" not in response.text


def test_reads_are_audited_and_interactions_listed(client, fixture):
    _report(client, fixture)
    listed = client.get(
        f"/v1/patients/{fixture.patient.id}/interactions", headers=fixture.headers["physio"]
    ).json()
    assert [i["minutes"] for i in listed["items"]] == [12, 8, 20, 5]  # in the order they happened
    assert listed["items"][0]["user_id"] == str(fixture.physio.id)
    with Session(get_engine()) as session:
        actions = set(
            session.exec(select(AuditEvent.action).where(AuditEvent.patient_id == fixture.patient.id)).all()
        )
    assert {"monitoring.read", "interaction.create", "interaction.list"} <= actions


def test_the_clinic_list_shows_each_current_patients_figures(client, fixture, world):
    response = client.get("/v1/monitoring", headers=fixture.headers["api_key"])
    assert response.status_code == 200, response.text
    [row] = [r for r in response.json()["items"] if r["patient_id"] == str(fixture.patient.id)]
    # The period under way and the month under way, to today: the same figures as the report for them.
    period = _report(client, fixture, **{"from": row["period_start"]}).json()["periods"][0]
    assert (row["period_start"], row["period_end"], row["days_with_data"]) == (
        period["start"],
        period["end"],
        period["days_with_data"],
    )
    month = _report(client, fixture, **{"from": f"{row['month']}-01"}).json()["months"][0]
    assert (row["interaction_minutes"], row["live_contact"]) == (
        month["interaction_minutes"],
        month["live_contact"],
    )
    assert (datetime.fromisoformat(row["period_start"]) - datetime(2026, 11, 1)).days % 30 == 0
    other = client.get("/v1/monitoring", headers=world.b.headers["physio"]).json()
    assert str(fixture.patient.id) not in {r["patient_id"] for r in other["items"]}


@pytest.mark.parametrize(
    "body",
    [
        {"minutes": 0, "kind": "live"},
        {"minutes": 601, "kind": "live"},
        {"minutes": -5, "kind": "async"},
        {"minutes": 10, "kind": "phone"},
        {"minutes": "10", "kind": "live"},
        {"minutes": 10, "kind": "live", "occurred_at": "2026-11-03T15:00:00"},
    ],
)
def test_bad_interactions_are_refused(client, world, body):
    response = client.post(
        f"/v1/patients/{world.a.patient.id}/interactions", json=body, headers=world.a.headers["physio"]
    )
    assert_problem(response, 422)


def test_bad_windows_tenancy_and_roles(client, world):
    a = world.a
    assert_problem(_report(client, a, **{"from": "2026-11-20", "to": "2026-11-01"}), 422)
    assert_problem(_report(client, a, **{"from": "2020-01-01", "to": "2026-11-01"}), 422)
    url = f"/v1/patients/{a.patient.id}"
    assert_problem(client.get(f"{url}/monitoring", headers=world.b.headers["physio"]), 404)
    interaction = {"minutes": 10, "kind": "live"}
    assert_problem(
        client.post(f"{url}/interactions", json=interaction, headers=world.b.headers["physio"]), 404
    )
    assert_problem(client.post(f"{url}/interactions", json=interaction, headers=a.headers["patient"]), 403)
    assert_problem(client.post(f"{url}/interactions", json=interaction, headers=a.headers["api_key"]), 403)
    assert_problem(client.get(f"/v1/patients/{uuid.uuid4()}/monitoring", headers=a.headers["physio"]), 404)
    assert_problem(client.get("/v1/monitoring", headers=a.headers["patient"]), 403)
