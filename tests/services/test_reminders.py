"""Reminders: preferences and their defaults, the coming instants across daylight-saving changes, and the
iCalendar feed at a revocable URL (parsed by `icalendar` and by `vobject`)."""

import uuid
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject

from app.models.common import Actor
from app.services import reminders
from tests.helpers import assert_problem
from tests.logging_helpers import active_programme

BEFORE_START = datetime(2026, 11, 1, 8, tzinfo=UTC)

DAILY = [{"exercise": "cat-camel", "reps": 6, "times_per_day": 1}]


def _timezone(client, tenant, zone: str) -> None:
    response = client.patch(
        f"/v1/patients/{tenant.patient.id}", json={"timezone": zone}, headers=tenant.headers["physio"]
    )
    assert response.status_code == 200, response.text


def _save(client, tenant, **body):
    return client.put("/v1/me/reminder-preferences", json=body, headers=tenant.headers["patient"])


def _coming(session, tenant, now: datetime, days: int) -> list:
    actor = Actor(kind="patient", id=tenant.patient.id, clinic_id=tenant.clinic.id)
    session.expire_all()  # what the API changed since the fixtures were made
    found = reminders.coming(session, actor, days, now).reminders
    session.rollback()
    return found


def test_defaults_follow_the_programme_times_per_day_and_days(client, world):
    active_programme(client, world.a, backdate=BEFORE_START)  # bridge 2×/day Mon/Wed/Fri, cat-camel daily
    got = client.get("/v1/me/reminder-preferences", headers=world.a.headers["patient"])
    assert got.status_code == 200, got.text
    assert got.json() == {
        "times": ["09:00", "18:00"],
        "days": [1, 2, 3, 4, 5, 6, 7],
        "quiet_start": None,
        "quiet_end": None,
        "evening": "20:00",
        "timezone": "UTC",
        "source": "default",
    }
    staff_view = client.get(
        f"/v1/patients/{world.a.patient.id}/reminder-preferences", headers=world.a.headers["physio"]
    )
    assert staff_view.json() == got.json()


def test_saved_preferences_and_the_physio_setting_them(client, world):
    saved = _save(
        client, world.a, times=["18:30", "07:15"], days=[5, 1], quiet_start="22:00", quiet_end="07:00"
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["times"] == ["07:15", "18:30"] and saved.json()["days"] == [1, 5]
    assert saved.json()["source"] == "saved"
    by_physio = client.put(
        f"/v1/patients/{world.a.patient.id}/reminder-preferences",
        json={"times": ["10:00"], "timezone": "Europe/Madrid"},
        headers=world.a.headers["physio"],
    )
    assert by_physio.status_code == 200, by_physio.text
    mine = client.get("/v1/me/reminder-preferences", headers=world.a.headers["patient"]).json()
    assert (mine["times"], mine["timezone"]) == (["10:00"], "Europe/Madrid")
    assert client.get("/v1/me", headers=world.a.headers["patient"]).json()["timezone"] == "Europe/Madrid"


@pytest.mark.parametrize(
    "body",
    [
        {"times": ["9:00"]},
        {"times": ["24:00"]},
        {"times": ["09:00:00"]},
        {"times": [f"{hour:02d}:00" for hour in range(13)]},  # 13 a day
        {"times": ["09:00", "09:00"]},
        {"times": ["09:00"], "timezone": "Mars/Olympus_Mons"},
        {"times": ["09:00"], "days": [0]},
        {"times": ["09:00"], "quiet_start": "22:00"},
        {"times": ["09:00"], "evening": "8pm"},
    ],
)
def test_bad_preferences_are_refused(client, world, body):
    assert_problem(_save(client, world.a, **body), 422)


def test_another_clinic_cannot_read_or_set_them(client, world):
    url = f"/v1/patients/{world.a.patient.id}/reminder-preferences"
    assert_problem(client.get(url, headers=world.b.headers["physio"]), 404)
    assert_problem(client.put(url, json={"times": ["09:00"]}, headers=world.b.headers["physio"]), 404)
    assert_problem(client.get("/v1/me/reminders", headers=world.a.headers["physio"]), 403)


def test_coming_reminders_through_the_api(client, world):
    active_programme(client, world.a, items=DAILY, backdate=BEFORE_START)
    assert _save(client, world.a, times=["00:00", "23:59"]).status_code == 200
    response = client.get("/v1/me/reminders", params={"days": 3}, headers=world.a.headers["patient"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (date.fromisoformat(body["end"]) - date.fromisoformat(body["start"])).days == 2
    # Today's 00:00 has passed; 23:59 may have; the next two days have both.
    assert 4 <= len(body["reminders"]) <= 5
    assert all(r["due"] and r["due"][0]["sessions"] == 1 for r in body["reminders"])
    assert_problem(
        client.get("/v1/me/reminders", params={"days": 61}, headers=world.a.headers["patient"]), 422
    )


# The daylight-saving changes of 2027: Europe/London 28 March (01:00 → 02:00) and 31 October (02:00 →
# 01:00); America/New_York 14 March (02:00 → 03:00) and 7 November (02:00 → 01:00).
DST_CASES = [
    # zone, first day, times, [(local day, local time, expected UTC), ...] for the days around the change
    (
        "Europe/London",
        date(2027, 3, 27),
        ["01:30", "09:00"],
        [
            ("2027-03-27", "01:30", "2027-03-27T01:30:00+00:00"),
            ("2027-03-27", "09:00", "2027-03-27T09:00:00+00:00"),
            # 01:30 does not exist on the 28th: read with the offset before the gap (RFC 5545), 02:30 BST.
            ("2027-03-28", "01:30", "2027-03-28T01:30:00+00:00"),
            ("2027-03-28", "09:00", "2027-03-28T08:00:00+00:00"),
            ("2027-03-29", "01:30", "2027-03-29T00:30:00+00:00"),
            ("2027-03-29", "09:00", "2027-03-29T08:00:00+00:00"),
        ],
    ),
    (
        "Europe/London",
        date(2027, 10, 30),
        ["01:30", "09:00"],
        [
            ("2027-10-30", "01:30", "2027-10-30T00:30:00+00:00"),
            ("2027-10-30", "09:00", "2027-10-30T08:00:00+00:00"),
            # 01:30 happens twice on the 31st: the first time (BST), once.
            ("2027-10-31", "01:30", "2027-10-31T00:30:00+00:00"),
            ("2027-10-31", "09:00", "2027-10-31T09:00:00+00:00"),
            ("2027-11-01", "01:30", "2027-11-01T01:30:00+00:00"),
            ("2027-11-01", "09:00", "2027-11-01T09:00:00+00:00"),
        ],
    ),
    (
        "America/New_York",
        date(2027, 3, 13),
        ["02:30", "19:00"],
        [
            ("2027-03-13", "02:30", "2027-03-13T07:30:00+00:00"),
            ("2027-03-13", "19:00", "2027-03-14T00:00:00+00:00"),
            ("2027-03-14", "02:30", "2027-03-14T07:30:00+00:00"),  # 03:30 EDT: the gap's offset
            ("2027-03-14", "19:00", "2027-03-14T23:00:00+00:00"),
            ("2027-03-15", "02:30", "2027-03-15T06:30:00+00:00"),
            ("2027-03-15", "19:00", "2027-03-15T23:00:00+00:00"),
        ],
    ),
    (
        "America/New_York",
        date(2027, 11, 6),
        ["01:30", "19:00"],
        [
            ("2027-11-06", "01:30", "2027-11-06T05:30:00+00:00"),
            ("2027-11-06", "19:00", "2027-11-06T23:00:00+00:00"),
            ("2027-11-07", "01:30", "2027-11-07T05:30:00+00:00"),  # the first 01:30 (EDT), once
            ("2027-11-07", "19:00", "2027-11-08T00:00:00+00:00"),
            ("2027-11-08", "01:30", "2027-11-08T06:30:00+00:00"),
            ("2027-11-08", "19:00", "2027-11-09T00:00:00+00:00"),
        ],
    ),
]


@pytest.mark.parametrize(("zone", "first_day", "times", "expected"), DST_CASES)
def test_reminders_across_a_daylight_saving_change(client, world, session, zone, first_day, times, expected):
    _timezone(client, world.a, zone)
    active_programme(client, world.a, items=DAILY, backdate=BEFORE_START)
    assert _save(client, world.a, times=times).status_code == 200
    start_of_first_day = datetime.combine(first_day, time(0), ZoneInfo(zone))
    found = _coming(session, world.a, start_of_first_day, 4)
    got = [(r.local_date.isoformat(), r.local_time, r.at.isoformat()) for r in found]
    assert got[: len(expected)] == expected  # the right instants, none lost
    assert len({r.at for r in found}) == len(found)  # none twice
    assert len(found) == 2 * 4  # two a day, every day
    assert all(r.local == r.at for r in found)  # the local view is the same moment
    # The local clock reads the chosen time, except the one time in a spring gap: an hour later.
    shifted = [
        (r.local_date, r.local.strftime("%H:%M")) for r in found if r.local.strftime("%H:%M") != r.local_time
    ]
    gap = {"Europe/London": (date(2027, 3, 28), "02:30"), "America/New_York": (date(2027, 3, 14), "03:30")}
    assert shifted == ([gap[zone]] if first_day.month == 3 else [])


def test_quiet_hours_days_and_paused_programmes(client, world, session):
    programme = active_programme(client, world.a, items=DAILY, backdate=BEFORE_START)
    now = datetime(2027, 1, 4, tzinfo=UTC)  # a Monday
    assert (
        _save(
            client,
            world.a,
            times=["06:00", "12:00", "23:00"],
            days=[1, 3],
            quiet_start="22:00",
            quiet_end="07:00",
        ).status_code
        == 200
    )
    got = [(r.local_date.isoformat(), r.local_time) for r in _coming(session, world.a, now, 7)]
    assert got == [("2027-01-04", "12:00"), ("2027-01-06", "12:00")]
    paused = client.post(f"/v1/programmes/{programme['id']}/pause", headers=world.a.headers["physio"])
    assert paused.status_code == 200, paused.text
    assert _coming(session, world.a, now, 7) == []  # nothing due while paused: no reminder


def _feed(client, tenant):
    response = client.post("/v1/me/calendar-feed", headers=tenant.headers["patient"])
    assert response.status_code == 201, response.text
    return response.json()["url"].replace("http://testserver", "")


def test_calendar_feed_parses_and_carries_no_health_detail(client, world):
    active_programme(client, world.a, items=DAILY, backdate=BEFORE_START)
    assert _save(client, world.a, times=["08:00", "19:30"]).status_code == 200
    url = _feed(client, world.a)
    assert str(world.a.patient.id) not in url
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    expected = client.get("/v1/me/reminders", params={"days": 28}, headers=world.a.headers["patient"]).json()
    starts = sorted(datetime.fromisoformat(r["at"]) for r in expected["reminders"])

    calendar = icalendar.Calendar.from_ical(response.content)
    events = calendar.walk("VEVENT")
    assert sorted(event.decoded("dtstart") for event in events) == starts
    assert {str(event["summary"]) for event in events} == {"Home exercises"}
    assert len({str(event["uid"]) for event in events}) == len(events)
    text = response.text.lower()
    assert "camel" not in text and "bridge" not in text  # no exercise named

    parsed = vobject.readOne(response.text)  # a second, independent parser
    assert sorted(event.dtstart.value for event in parsed.vevent_list) == starts
    assert {event.summary.value for event in parsed.vevent_list} == {"Home exercises"}

    again = client.get(url)  # the same events, by the same UIDs, on the next fetch
    assert {str(e["uid"]) for e in icalendar.Calendar.from_ical(again.content).walk("VEVENT")} == {
        str(e["uid"]) for e in events
    }


def test_calendar_titles_in_spanish(client, world):
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    active_programme(client, world.a, items=DAILY, backdate=BEFORE_START)
    calendar = icalendar.Calendar.from_ical(client.get(_feed(client, world.a)).content)
    assert {str(event["summary"]) for event in calendar.walk("VEVENT")} == {"Ejercicios en casa"}


def test_revoked_and_replaced_feeds_stop_working(client, world):
    first = _feed(client, world.a)
    second = _feed(client, world.a)  # a new URL replaces the old one
    assert first != second
    assert_problem(client.get(first), 404)
    assert client.get(second).status_code == 200
    revoked = client.delete("/v1/me/calendar-feed", headers=world.a.headers["patient"])
    assert revoked.status_code == 204
    assert_problem(client.get(second), 404)
    third = _feed(client, world.a)
    url = f"/v1/patients/{world.a.patient.id}/calendar-feed"
    assert_problem(client.delete(url, headers=world.b.headers["physio"]), 404)  # not their patient
    assert client.get(third).status_code == 200
    assert client.delete(url, headers=world.a.headers["physio"]).status_code == 204
    assert_problem(client.get(third), 404)
    assert_problem(client.get(f"/v1/calendar/{uuid.uuid4().hex}.ics"), 404)
