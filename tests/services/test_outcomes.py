"""Outcome scoring against the reference's worked examples, and change against baseline."""

import uuid

import pytest
from sqlmodel import select

from app.models.audit import AuditEvent
from app.models.outcome import OutcomeResponse
from app.models.safety import SafetyAlert
from app.models.webhook import Event
from app.services.outcomes import MEANINGFUL, change, score
from tests.helpers import assert_problem


def test_odi_worked_examples():
    assert score("odi", {"sections": [2, 2, 2, 2, 2, 1, 1, 1, 2, 1]})["percent"] == 32.0  # 16/50
    missing_one = score("odi", {"sections": [2, 2, 2, 2, 2, 2, 1, 1, 2, None]})  # 16/45
    assert (missing_one["sum"], missing_one["max"], missing_one["percent"]) == (16, 45, 35.6)
    assert score("odi", {"sections": [5] * 10})["percent"] == 100.0
    assert score("odi", {"sections": [0] * 8 + [None, None]})["percent"] == 0.0


@pytest.mark.parametrize(
    ("items", "bothersome", "total", "distress", "risk"),
    [
        ([True, True, True, False, False, False, False, False], "moderately", 3, 0, "low"),
        ([True, True, True, False, False, False, False, False], "very_much", 4, 1, "medium"),
        ([True, True, True, True, True, True, True, False], "slightly", 7, 3, "medium"),
        ([False] * 4 + [True, True, True, False], "extremely", 4, 4, "high"),
        ([True] * 8, "extremely", 9, 5, "high"),
        ([False] * 8, "not_at_all", 0, 0, "low"),
    ],
)
def test_startback_classification_at_the_boundaries(items, bothersome, total, distress, risk):
    assert score("startback", {"items": items, "bothersome": bothersome}) == {
        "total": total,
        "distress": distress,
        "risk": risk,
    }


def test_rmdq_nprs_psfs_scores():
    assert score("rmdq", {"items": [True] * 7 + [False] * 17}) == {"score": 7}
    assert score("nprs", {"back": 6, "leg": 3}) == {"back": 6, "leg": 3}
    psfs = score(
        "psfs", {"activities": [{"activity": "Sitting", "score": 4}, {"activity": "Lifting", "score": 7}]}
    )
    assert psfs == {"mean": 5.5, "by_activity": {"Sitting": 4, "Lifting": 7}}


def _record(client, tenant, instrument, answers, taken_at):
    response = client.post(
        "/v1/me/outcomes",
        json={"instrument": instrument, "answers": answers, "taken_at": taken_at},
        headers=tenant.headers["patient"],
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_change_against_baseline_and_mcid_flags(client, world):
    _record(client, world.a, "nprs", {"back": 6, "leg": 8}, "2026-11-01T09:00:00Z")
    later = _record(client, world.a, "nprs", {"back": 4, "leg": 7}, "2026-11-15T09:00:00Z")
    assert later["change"]["back"]["improved_meaningfully"] is True  # 2 points
    assert later["change"]["leg"]["improved_meaningfully"] is False  # 1 point, 12.5 %

    _record(client, world.a, "odi", {"sections": [3] * 10}, "2026-11-01T09:00:00Z")  # 60 %
    odi = _record(client, world.a, "odi", {"sections": [2] * 10 + []}, "2026-11-15T09:00:00Z")  # 40 %
    assert odi["change"]["difference"] == -20.0 and odi["change"]["improved_meaningfully"] is True

    _record(
        client,
        world.a,
        "psfs",
        {"activities": [{"activity": "Sitting", "score": 3}, {"activity": "Walking", "score": 5}]},
        "2026-11-01T09:00:00Z",
    )
    psfs = _record(
        client,
        world.a,
        "psfs",
        {"activities": [{"activity": "Sitting", "score": 6}, {"activity": "Gardening", "score": 1}]},
        "2026-11-15T09:00:00Z",
    )
    # Only activities named at baseline and re-rated count: Sitting 3 → 6.
    assert psfs["change"] == {
        "activities": ["Sitting"],
        "baseline": 3.0,
        "difference": 3.0,
        "improved_meaningfully": True,
        "worsened_meaningfully": False,
    }

    history = client.get(
        f"/v1/patients/{world.a.patient.id}/outcomes",
        params={"instrument": "nprs"},
        headers=world.a.headers["physio"],
    ).json()
    assert history["next_cursor"] is None
    assert [o["scores"]["back"] for o in history["items"]] == [6, 4] and history["items"][0]["change"] is None
    assert len(client.get("/v1/me/outcomes", headers=world.a.headers["patient"]).json()["items"]) == 6
    assert_problem(
        client.get(f"/v1/patients/{world.a.patient.id}/outcomes", headers=world.b.headers["physio"]), 404
    )


@pytest.mark.parametrize(
    ("instrument", "answers"),
    [
        ("odi", {"sections": [1, 1, 1, 1, 1, 1, 1, None, None, None]}),
        ("odi", {"sections": [6] * 10}),
        ("odi", {"sections": [1] * 9}),
        ("rmdq", {"items": [True] * 23}),
        ("startback", {"items": [True] * 8, "bothersome": "a lot"}),
        ("startback", {"items": [True] * 9, "bothersome": "slightly"}),
        ("nprs", {}),
        ("nprs", {"back": 11}),
        ("psfs", {"activities": []}),
        ("psfs", {"activities": [{"activity": "Sit", "score": 3}, {"activity": "sit", "score": 4}]}),
        ("psfs", {"activities": [{"activity": "Walk up", "score": 3}, {"activity": "walk  UP", "score": 4}]}),
        ("nprs", {"back": 3, "recall": "yesterday"}),
        ("rmdq", {"items": [True] * 24, "extra": 1}),
        ("sf36", {}),
    ],
)
def test_bad_answers_are_422(client, world, instrument, answers):
    response = client.post(
        "/v1/me/outcomes",
        json={"instrument": instrument, "answers": answers},
        headers=world.a.headers["patient"],
    )
    assert_problem(response, 422, "validation_error")


# Meaningful change (docs/clinical-rules.md, "Outcome measures"): at least the points, or 30 % of the
# baseline, and never below the floor (the minimal detectable change); the same rule for better and worse.


def _response(instrument, answers, recall=None):
    if recall is not None:
        answers = {**answers, "recall": recall}
    return OutcomeResponse(
        id=uuid.uuid4(),
        clinic_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        instrument=instrument,
        answers=answers,
        scores=score(instrument, answers),
        taken_at="2026-11-01T09:00:00Z",
    )


def _nprs(back, recall="now"):
    return _response("nprs", {"back": back}, recall)


def _rmdq(ticked):
    return _response("rmdq", {"items": [True] * ticked + [False] * (24 - ticked)})


def _odi(sections):
    return _response("odi", {"sections": sections})


def _psfs(**ratings):
    return _response("psfs", {"activities": [{"activity": a, "score": s} for a, s in ratings.items()]})


@pytest.mark.parametrize(
    ("before", "after", "improved", "worsened"),
    [
        (_nprs(2), _nprs(1), False, False),  # 1 point (50 %): below the NPRS floor of 2 (review M13)
        (_nprs(3), _nprs(2), False, False),  # 1 point (33 %)
        (_nprs(3), _nprs(1), True, False),  # 2 points
        (_nprs(8), _nprs(6), True, False),  # 2 points, only 25 %
        (_nprs(4), _nprs(6), False, True),  # 2 points worse: symmetric
        (_nprs(6), _nprs(7), False, False),
        (_rmdq(13), _rmdq(9), True, False),  # 4 points = 30.8 % of 13, at the floor of 4
        (_rmdq(14), _rmdq(10), False, False),  # 4 points = 28.6 %, short of 5 points
        (_rmdq(6), _rmdq(3), False, False),  # 3 points (50 %): below the floor of 4
        (_rmdq(20), _rmdq(15), True, False),  # 5 points
        (_rmdq(6), _rmdq(10), False, True),  # 4 points worse = 67 % of 6
        (_rmdq(14), _rmdq(18), False, False),  # 4 points worse = 28.6 %
        (_rmdq(14), _rmdq(19), False, True),  # 5 points worse
        (_odi([3] * 10), _odi([2] * 10), True, False),  # 60 % → 40 %
        (_odi([1] * 10), _odi([1] * 6 + [0] * 4), False, False),  # 20 % → 12 %: 8 points (40 %), floor 10
        (_odi([1] * 10), _odi([2] * 10), False, True),  # 20 % → 40 %
        (_odi([2] * 9 + [None]), _odi([3] * 8 + [None, None]), False, True),  # 40 % → 60 %, 18/45 → 24/40
    ],
)
def test_meaningful_change_has_a_floor_and_is_symmetric(before, after, improved, worsened):
    found = change(before.instrument, before, after)
    compared = found["back"] if before.instrument == "nprs" else found
    assert (compared["improved_meaningfully"], compared["worsened_meaningfully"]) == (improved, worsened)


def test_nprs_is_compared_only_within_one_recall_period():
    assert change("nprs", _nprs(8, "worst_24h"), _nprs(4, "now")) is None
    assert change("nprs", _nprs(8, "worst_24h"), _nprs(4, "worst_24h"))["back"]["difference"] == -4


def test_psfs_matches_activities_ignoring_case_and_spacing():
    before = _psfs(Walking=3, **{"Climbing stairs": 4})
    after = _psfs(WALKING=5, **{"climbing  Stairs": 6, "Gardening": 1})
    assert change("psfs", before, after) == {
        "activities": ["Walking", "Climbing stairs"],
        "baseline": 3.5,
        "difference": 2.0,
        "improved_meaningfully": True,
        "worsened_meaningfully": False,
    }
    # Five activities: mean 0.8 → 2.8 is 2 points, though 2.8 − 0.8 is 1.9999999999999998 in floats.
    five = change("psfs", _psfs(a=0, b=0, c=1, d=1, e=2), _psfs(a=2, b=2, c=3, d=3, e=4))
    assert five["difference"] == 2.0 and five["improved_meaningfully"] is True


def test_room_to_improve():
    assert [MEANINGFUL["nprs"].possible(b) for b in (0, 1, 2, 10)] == [False, False, True, True]
    assert [MEANINGFUL["rmdq"].possible(b) for b in (3, 4)] == [False, True]
    assert [MEANINGFUL["odi"].possible(b) for b in (8.9, 10.0)] == [False, True]
    assert [MEANINGFUL["psfs"].possible(b) for b in (8.0, 8.5)] == [True, False]


def test_nprs_change_over_the_api_keeps_recall_periods_apart(client, world):
    _record(client, world.a, "nprs", {"back": 6, "recall": "now"}, "2026-11-01T09:00:00Z")
    _record(client, world.a, "nprs", {"back": 8, "recall": "worst_24h"}, "2026-11-02T09:00:00Z")
    now = _record(client, world.a, "nprs", {"back": 5, "recall": "now"}, "2026-11-15T09:00:00Z")
    worst = _record(client, world.a, "nprs", {"back": 6, "recall": "worst_24h"}, "2026-11-15T10:00:00Z")
    assert now["change"]["back"]["baseline"] == 6 and now["change"]["back"]["improved_meaningfully"] is False
    assert worst["change"]["back"] == {
        "baseline": 8,
        "difference": -2,
        "improved_meaningfully": True,
        "worsened_meaningfully": False,
    }
    listed = client.get("/v1/me/outcomes", headers=world.a.headers["patient"]).json()["items"]
    assert [o["change"] is None for o in listed] == [True, True, False, False]
    assert [o["change"]["back"]["baseline"] for o in listed[2:]] == [6, 8]


def test_psfs_change_over_the_api_matches_a_retyped_activity(client, world):
    baseline = {"activities": [{"activity": "Walking", "score": 3}, {"activity": "Sitting", "score": 4}]}
    _record(client, world.a, "psfs", baseline, "2026-11-01T09:00:00Z")
    retyped = {"activities": [{"activity": " walking ", "score": 6}, {"activity": "SITTING", "score": 5}]}
    later = _record(client, world.a, "psfs", retyped, "2026-11-15T09:00:00Z")
    # Both re-rated: mean 3.5 → 5.5 (compared by exact spelling, neither matched and there was no change).
    assert later["change"]["activities"] == ["Walking", "Sitting"]
    assert later["change"]["difference"] == 2.0 and later["change"]["improved_meaningfully"] is True


STARTBACK_HIGH = {"items": [False] * 4 + [True, True, True, False], "bothersome": "extremely"}  # 4, 4
STARTBACK_LOW = {"items": [True, True, False, False, False, False, False, False], "bothersome": "slightly"}


def _risk(client, tenant):
    patient = client.get(f"/v1/patients/{tenant.patient.id}", headers=tenant.headers["physio"])
    assert patient.status_code == 200, patient.text
    return patient.json()["startback_risk"]


def test_startback_risk_group_is_stored_on_the_patient(client, world, session):
    assert _risk(client, world.a) is None
    _record(client, world.a, "startback", STARTBACK_HIGH, "2026-11-10T09:00:00Z")
    assert _risk(client, world.a) == "high"
    # A response dated before the latest one does not replace its risk group; a newer one does.
    _record(client, world.a, "startback", STARTBACK_LOW, "2026-11-01T09:00:00Z")
    assert _risk(client, world.a) == "high"
    _record(client, world.a, "startback", STARTBACK_LOW, "2026-11-20T09:00:00Z")
    assert _risk(client, world.a) == "low" and _risk(client, world.b) is None
    updates = session.exec(
        select(AuditEvent).where(
            AuditEvent.patient_id == world.a.patient.id, AuditEvent.action == "patient.update"
        )
    ).all()
    session.commit()
    assert len(updates) == 2 and {u.actor_kind for u in updates} == {"patient"}


def _reviews(session, tenant):
    alerts = session.exec(
        select(SafetyAlert)
        .where(SafetyAlert.patient_id == tenant.patient.id, SafetyAlert.source == "review")
        .order_by(SafetyAlert.created_at)
    ).all()
    raised = session.exec(
        select(Event).where(Event.clinic_id == tenant.clinic.id, Event.type == "safety.alert_raised")
    ).all()
    session.commit()
    return alerts, raised


def test_no_meaningful_improvement_at_four_weeks_raises_one_review(client, world, session):
    _record(client, world.a, "odi", {"sections": [3] * 10}, "2026-11-01T09:00:00Z")  # 60 %
    _record(client, world.a, "odi", {"sections": [3] * 8 + [2, 2]}, "2026-11-20T09:00:00Z")  # 56 %, day 19
    assert _reviews(session, world.a) == ([], [])
    flat = _record(client, world.a, "odi", {"sections": [3] * 7 + [2] * 3}, "2026-11-27T09:00:00Z")  # 54 %
    [alert], [raised] = _reviews(session, world.a)
    assert (alert.tier, alert.status, alert.reasons, alert.evidence) == (
        "routine",
        "open",
        ["no_meaningful_improvement", "instrument:odi"],
        [flat["id"]],
    )
    assert raised.data["alert_id"] == str(alert.id)
    # Never again for this baseline, open or resolved.
    _record(client, world.a, "odi", {"sections": [3] * 10}, "2026-12-05T09:00:00Z")
    resolved = client.post(
        f"/v1/alerts/{alert.id}/resolve",
        json={"note": "Reviewed in clinic."},
        headers=world.a.headers["physio"],
    )
    assert resolved.status_code == 200, resolved.text
    _record(client, world.a, "odi", {"sections": [3] * 10}, "2026-12-20T09:00:00Z")
    assert [len(found) for found in _reviews(session, world.a)] == [1, 1]
    assert _reviews(session, world.b) == ([], [])


def test_a_review_waits_until_26_days_after_the_baseline(client, world, session):
    _record(client, world.a, "rmdq", {"items": [True] * 10 + [False] * 14}, "2026-11-01T09:00:00Z")
    _record(client, world.a, "rmdq", {"items": [True] * 9 + [False] * 15}, "2026-11-27T08:59:00Z")
    assert _reviews(session, world.a) == ([], [])
    on_day_26 = _record(client, world.a, "rmdq", {"items": [True] * 9 + [False] * 15}, "2026-11-27T09:00:00Z")
    [alert], _ = _reviews(session, world.a)
    assert alert.reasons == ["no_meaningful_improvement", "instrument:rmdq"] and alert.evidence == [
        on_day_26["id"]
    ]


def test_a_meaningful_improvement_or_no_room_to_improve_raises_no_review(client, world, session):
    _record(client, world.a, "rmdq", {"items": [True] * 12 + [False] * 12}, "2026-11-01T09:00:00Z")
    _record(client, world.a, "rmdq", {"items": [True] * 7 + [False] * 17}, "2026-12-01T09:00:00Z")  # −5
    _record(client, world.a, "nprs", {"back": 1, "recall": "average_24h"}, "2026-11-01T09:00:00Z")
    _record(client, world.a, "nprs", {"back": 1, "recall": "average_24h"}, "2026-12-01T09:00:00Z")
    _record(
        client, world.a, "psfs", {"activities": [{"activity": "Run", "score": 9}]}, "2026-11-01T09:00:00Z"
    )
    _record(
        client, world.a, "psfs", {"activities": [{"activity": "run", "score": 9}]}, "2026-12-01T09:00:00Z"
    )
    _record(client, world.a, "startback", STARTBACK_HIGH, "2026-11-01T09:00:00Z")
    _record(client, world.a, "startback", STARTBACK_HIGH, "2026-12-01T09:00:00Z")
    assert _reviews(session, world.a) == ([], [])


def test_nprs_review_is_per_recall_period_and_any_site_short_of_the_rule(client, world, session):
    _record(client, world.a, "nprs", {"back": 6, "recall": "now"}, "2026-11-01T09:00:00Z")
    _record(client, world.a, "nprs", {"back": 3, "recall": "now"}, "2026-11-28T09:00:00Z")  # −3: better
    assert _reviews(session, world.a) == ([], [])
    _record(client, world.a, "nprs", {"back": 8, "leg": 7, "recall": "worst_24h"}, "2026-11-02T09:00:00Z")
    # Back 8 → 5 is meaningful, leg 7 → 6 is not: the leg alone asks for a review.
    leg = _record(
        client, world.a, "nprs", {"back": 5, "leg": 6, "recall": "worst_24h"}, "2026-11-28T09:00:00Z"
    )
    _record(client, world.a, "nprs", {"back": 5, "leg": 6, "recall": "worst_24h"}, "2026-12-05T09:00:00Z")
    [alert], _ = _reviews(session, world.a)
    assert alert.reasons == ["no_meaningful_improvement", "instrument:nprs"] and alert.evidence == [leg["id"]]
    # Another recall period has its own baseline, so its own review.
    _record(client, world.a, "nprs", {"back": 5, "recall": "now"}, "2026-12-06T09:00:00Z")
    assert [len(found) for found in _reviews(session, world.a)] == [2, 2]


def test_outcome_lists_are_pages_in_the_order_taken(client, world):
    taken = ["2026-11-03T09:00:00Z", "2026-11-01T09:00:00Z", "2026-11-02T09:00:00Z", "2026-11-02T09:00:00Z"]
    ids = [  # RMDQ 10, 9, 8, 7: the first taken (the baseline) is the 9
        _record(client, world.a, "rmdq", {"items": [True] * (10 - n) + [False] * (14 + n)}, at)["id"]
        for n, at in enumerate(taken)
    ]
    tied = sorted(ids[2:], key=uuid.UUID)
    expected = [ids[1], *tied, ids[0]]
    for url, who in (
        ("/v1/me/outcomes", "patient"),
        (f"/v1/patients/{world.a.patient.id}/outcomes", "physio"),
    ):
        first = client.get(url, params={"limit": 2}, headers=world.a.headers[who]).json()
        second = client.get(
            url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=world.a.headers[who]
        ).json()
        assert [o["id"] for o in first["items"] + second["items"]] == expected
        assert second["next_cursor"] is None
        # The change on the second page is still against the baseline (score 9, taken first).
        assert [o["change"]["baseline"] for o in second["items"]] == [9, 9]
    bad = client.get("/v1/me/outcomes", params={"cursor": "nope"}, headers=world.a.headers["patient"])
    assert_problem(bad, 400, "invalid_cursor")


def test_openapi_shows_each_instrument_answer_format(app):
    spec = app.openapi()
    body = spec["paths"]["/v1/me/outcomes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "instrument"
    schemas = spec["components"]["schemas"]
    answers = {
        instrument: schemas[ref.rsplit("/", 1)[1]]["properties"]["answers"]["$ref"].rsplit("/", 1)[1]
        for instrument, ref in body["discriminator"]["mapping"].items()
    }
    assert answers == {
        "nprs": "NprsAnswers",
        "psfs": "PsfsAnswers",
        "odi": "OdiAnswers",
        "rmdq": "RmdqAnswers",
        "startback": "StartBackAnswers",
    }
    assert set(schemas["NprsAnswers"]["properties"]) == {"back", "leg", "recall"}
    listed = spec["paths"]["/v1/me/outcomes"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listed["schema"]["$ref"].endswith("Page_OutcomePublic_")
