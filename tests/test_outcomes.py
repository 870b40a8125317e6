"""Outcome scoring against the reference's worked examples, and change against baseline."""

import pytest

from app.services.outcomes import score
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
    assert [o["scores"]["back"] for o in history] == [6, 4] and history[0]["change"] is None
    assert len(client.get("/v1/me/outcomes", headers=world.a.headers["patient"]).json()) == 6
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
