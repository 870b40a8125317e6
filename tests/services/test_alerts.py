"""The triaged alert queue: unresolved alerts unless asked otherwise, most serious tier first, longest
waiting first, counts per tier, stable pages."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.models.common import Actor
from app.services import safety
from app.services.pagination import encode_cursor
from tests.factories import Tenant, make_patient
from tests.helpers import assert_problem

ALL_TIERS = {"emergency", "urgent", "routine"}
NOON = datetime(2026, 11, 10, 12, tzinfo=UTC)


def raise_alert(session, tenant: Tenant, tier: str, created_at: datetime | None = None, patient=None) -> str:
    actor = Actor(kind="system", id=uuid.UUID(int=0), clinic_id=tenant.clinic.id)
    patient_id = (patient or tenant.patient).id
    alert = safety.raise_alert(session, actor, patient_id, tier, ["test"], [], "session_log")  # type: ignore[arg-type]
    if created_at is not None:
        alert.created_at = created_at
    session.commit()
    return str(alert.id)


def queue(client, tenant: Tenant, **params) -> dict:
    response = client.get("/v1/alerts", params=params, headers=tenant.headers["physio"])
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict) -> list[str]:
    return [alert["id"] for alert in page["items"]]


def walk(client, tenant: Tenant, **params) -> list[str]:
    """Every id of the queue, page by page."""
    seen, cursor = [], None
    while True:
        page = queue(client, tenant, **params, **({"cursor": cursor} if cursor else {}))
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_most_serious_tier_first_whatever_the_creation_order(client, world, session):
    routine = raise_alert(session, world.a, "routine")
    emergency = raise_alert(session, world.a, "emergency")
    urgent = raise_alert(session, world.a, "urgent")
    page = queue(client, world.a)
    assert ids(page) == [emergency, urgent, routine]
    assert [alert["tier"] for alert in page["items"]] == ["emergency", "urgent", "routine"]
    assert page["next_cursor"] is None


def test_longest_waiting_first_within_a_tier(client, world, session):
    # Created in this order (so ids ascend), but the second has waited longer.
    recent = raise_alert(session, world.a, "urgent", NOON - timedelta(minutes=5))
    older = raise_alert(session, world.a, "urgent", NOON - timedelta(hours=3))
    same_time = [raise_alert(session, world.a, "urgent", NOON - timedelta(hours=1)) for _ in range(2)]
    routine_oldest = raise_alert(session, world.a, "routine", NOON - timedelta(days=30))
    # A tie on time: the id decides (ids made in the same millisecond are not in creation order).
    assert ids(queue(client, world.a)) == [older, *sorted(same_time), recent, routine_oldest]


def test_filters_by_tier_status_and_patient(client, world, session):
    other_patient = make_patient(session, world.a.clinic)
    session.commit()
    emergency = raise_alert(session, world.a, "emergency", NOON)
    urgent = raise_alert(session, world.a, "urgent", NOON)
    routine = raise_alert(session, world.a, "routine", NOON - timedelta(hours=2))
    others_routine = raise_alert(session, world.a, "routine", NOON - timedelta(hours=1), other_patient)
    acked = client.post(f"/v1/alerts/{urgent}/acknowledge", headers=world.a.headers["physio"])
    assert acked.status_code == 200, acked.text

    assert ids(queue(client, world.a, tier="routine")) == [routine, others_routine]
    assert ids(queue(client, world.a, status="open")) == [emergency, routine, others_routine]
    assert ids(queue(client, world.a, status="acknowledged")) == [urgent]
    assert ids(queue(client, world.a, patient_id=str(other_patient.id))) == [others_routine]
    both = queue(client, world.a, tier="routine", status="open", patient_id=str(world.a.patient.id))
    assert ids(both) == [routine]


def test_without_a_status_the_queue_holds_only_what_still_needs_work(client, world, session):
    waiting = raise_alert(session, world.a, "routine", NOON - timedelta(hours=1))
    acknowledged = raise_alert(session, world.a, "urgent", NOON - timedelta(hours=2))
    done = raise_alert(session, world.a, "emergency", NOON - timedelta(hours=3))
    headers = world.a.headers["physio"]
    assert client.post(f"/v1/alerts/{acknowledged}/acknowledge", headers=headers).status_code == 200
    note = "Seen the same day: no red flag found."
    resolved = client.post(f"/v1/alerts/{done}/resolve", json={"note": note}, headers=headers)
    assert resolved.status_code == 200, resolved.text

    page = queue(client, world.a)
    assert ids(page) == [acknowledged, waiting]
    assert page["counts"] == {"emergency": 0, "urgent": 1, "routine": 1}
    assert ids(queue(client, world.a, tier="emergency")) == []
    assert walk(client, world.a, limit=1) == [acknowledged, waiting]
    history = queue(client, world.a, status="resolved")
    assert ids(history) == [done] and history["items"][0]["resolution_note"] == note
    assert history["counts"] == {"emergency": 1, "urgent": 0, "routine": 0}


def test_counts_per_tier_follow_status_and_patient_but_not_tier(client, world, session):
    other_patient = make_patient(session, world.a.clinic)
    session.commit()
    assert queue(client, world.a)["counts"] == dict.fromkeys(ALL_TIERS, 0)
    urgent = raise_alert(session, world.a, "urgent")
    for _ in range(2):
        raise_alert(session, world.a, "routine")
    raise_alert(session, world.a, "routine", patient=other_patient)
    client.post(f"/v1/alerts/{urgent}/acknowledge", headers=world.a.headers["physio"])

    everything = {"emergency": 0, "urgent": 1, "routine": 3}
    assert queue(client, world.a)["counts"] == everything
    assert queue(client, world.a, tier="emergency")["counts"] == everything  # the tier filter aside
    assert queue(client, world.a, tier="urgent", limit=1)["counts"] == everything
    assert queue(client, world.a, status="open")["counts"] == {"emergency": 0, "urgent": 0, "routine": 3}
    mine = queue(client, world.a, patient_id=str(world.a.patient.id), tier="routine")
    assert mine["counts"] == {"emergency": 0, "urgent": 1, "routine": 2}


@pytest.mark.parametrize("limit", [1, 2])
def test_small_pages_walk_every_alert_once_in_queue_order(client, world, session, limit):
    created = [
        ("routine", NOON - timedelta(hours=5)),
        ("emergency", NOON - timedelta(minutes=1)),
        ("urgent", NOON - timedelta(hours=1)),
        ("routine", NOON - timedelta(hours=5)),  # a tie on time: the id decides
        ("emergency", NOON - timedelta(hours=2)),
        ("urgent", NOON - timedelta(hours=1)),
        ("routine", NOON - timedelta(days=2)),
    ]
    for tier, created_at in created:
        raise_alert(session, world.a, tier, created_at)
    whole = queue(client, world.a)
    tiers = [alert["tier"] for alert in whole["items"]]
    assert tiers == ["emergency"] * 2 + ["urgent"] * 2 + ["routine"] * 3
    walked = walk(client, world.a, limit=limit)
    assert walked == ids(whole) and len(set(walked)) == len(created)
    assert walk(client, world.a, limit=limit, tier="routine") == ids(whole)[4:]


def test_a_page_continues_after_its_cursor_when_alerts_arrive(client, world, session):
    first = raise_alert(session, world.a, "urgent", NOON - timedelta(hours=2))
    second = raise_alert(session, world.a, "urgent", NOON - timedelta(hours=1))
    page = queue(client, world.a, limit=1)
    assert ids(page) == [first]
    # A new emergency sorts before the cursor: it is counted, and shows on the next first page, not here.
    raise_alert(session, world.a, "emergency")
    rest = queue(client, world.a, limit=1, cursor=page["next_cursor"])
    assert ids(rest) == [second] and rest["next_cursor"] is None
    assert rest["counts"]["emergency"] == 1


def test_another_clinics_alerts_are_never_listed_or_counted(client, world, session):
    mine = raise_alert(session, world.a, "routine")
    for tier in ("emergency", "urgent", "routine"):
        raise_alert(session, world.b, tier)
    page = queue(client, world.a)
    assert ids(page) == [mine]
    assert page["counts"] == {"emergency": 0, "urgent": 0, "routine": 1}
    assert ids(queue(client, world.a, patient_id=str(world.b.patient.id))) == []
    assert queue(client, world.a, patient_id=str(world.b.patient.id))["counts"] == dict.fromkeys(ALL_TIERS, 0)


def test_bad_filters_and_cursors_are_refused(client, world, session):
    raise_alert(session, world.a, "routine")
    raise_alert(session, world.a, "routine")
    headers = world.a.headers["physio"]
    assert_problem(client.get("/v1/alerts", params={"tier": "critical"}, headers=headers), 422)
    assert_problem(client.get("/v1/alerts", params={"status": "closed"}, headers=headers), 422)
    id_only = encode_cursor(uuid.uuid4())  # the shape of a cursor from a list ordered by the id alone
    far_future = encode_cursor(uuid.uuid4(), 0, 2**62)  # right length, a time past year 9999
    for cursor in ("!!!", "AAAA", id_only, far_future):
        response = client.get("/v1/alerts", params={"cursor": cursor}, headers=headers)
        assert_problem(response, 400, "invalid_cursor")
