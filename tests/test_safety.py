"""Symptom check-ins: every tier reachable, the programme paused when it must be, advice always given."""

import pytest
from sqlmodel import select

from app.models.webhook import Event
from app.services import programmes
from tests.logging_helpers import active_programme


def check(client, tenant, **answers):
    response = client.post(
        "/v1/me/symptom-checks", json={"answers": answers}, headers=tenant.headers["patient"]
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("answers", "tier", "reason"),
    [
        ({"saddle_numbness": True}, "emergency", "suspected_cauda_equina"),
        ({"bladder_change": True}, "emergency", "suspected_cauda_equina"),
        ({"bowel_change": True}, "emergency", "suspected_cauda_equina"),
        ({"sexual_dysfunction": True}, "emergency", "suspected_cauda_equina"),
        ({"both_legs": True}, "emergency", "suspected_cauda_equina"),
        (
            {"cancer_history": True, "walking_difficulty": True},
            "emergency",
            "suspected_spinal_cord_compression",
        ),
        ({"cancer_history": True, "new_nerve_pain": True}, "emergency", "suspected_spinal_cord_compression"),
        ({"major_trauma": True}, "emergency", "major_trauma"),
        ({"leg_weakness_worsening": True}, "urgent", "progressive_neurological_deficit"),
        ({"fever_or_unwell": True}, "urgent", "possible_infection"),
        ({"infection_risk": True}, "urgent", "possible_infection"),
        ({"cancer_history": True}, "urgent", "possible_malignancy"),
        ({"weight_loss": True}, "urgent", "possible_malignancy"),
        ({"night_pain": True}, "urgent", "possible_malignancy"),
        ({"no_improvement_month": True}, "urgent", "possible_malignancy"),
        ({"fracture_risk": True}, "urgent", "possible_fracture"),
        ({"morning_stiffness": True}, "routine", "possible_inflammatory_pain"),
        ({"symptoms_spreading": True}, "routine", "persistent_peripheralisation"),
    ],
)
def test_every_tier_is_reachable(client, world, answers, tier, reason):
    result = check(client, world.a, **answers)
    assert result["tier"] == tier and reason in result["reasons"]
    assert result["recorded"] is True and result["alert_raised"] is True


def test_no_red_flags(client, world):
    result = check(client, world.a, morning_stiffness=False)
    assert result["tier"] is None and result["reasons"] == [] and result["alert_raised"] is False
    assert "None of the warning signs" in result["instruction"]


def test_emergency_pauses_the_programme_alerts_and_emits(client, world, session):
    programme = active_programme(client, world.a)
    result = check(client, world.a, saddle_numbness=True, morning_stiffness=True)
    assert result["tier"] == "emergency"
    assert result["reasons"] == ["suspected_cauda_equina", "possible_inflammatory_pain"]
    assert "emergency department" in result["instruction"] and result["programme_paused"] is True
    current = client.get(f"/v1/programmes/{programme['id']}", headers=world.a.headers["physio"]).json()
    assert current["status"] == "paused" and current["revision"] == 3
    alerts = client.get(
        "/v1/alerts",
        params={"patient_id": str(world.a.patient.id), "status": "open"},
        headers=world.a.headers["physio"],
    ).json()["items"]
    assert [(a["tier"], a["source"], a["evidence"]) for a in alerts] == [
        ("emergency", "symptom_check", [result["id"]])
    ]
    types = session.exec(
        select(Event.type).where(Event.clinic_id == world.a.clinic.id).order_by(Event.id)
    ).all()
    session.commit()
    assert types[-2:] == ["programme.paused", "safety.alert_raised"]


def test_urgent_pauses_and_routine_does_not(client, world):
    programme = active_programme(client, world.a)
    assert check(client, world.a, morning_stiffness=True)["programme_paused"] is False
    status = client.get(f"/v1/programmes/{programme['id']}", headers=world.a.headers["physio"]).json()[
        "status"
    ]
    assert status == "active"
    urgent = check(client, world.a, fever_or_unwell=True)
    assert urgent["programme_paused"] is True and "today" in urgent["instruction"]
    again = check(client, world.a, fever_or_unwell=True)  # already paused: nothing more to pause
    assert again["programme_paused"] is False and again["alert_raised"] is True


def test_instruction_is_in_the_patients_language(client, world):
    client.patch(
        f"/v1/patients/{world.a.patient.id}", json={"locale": "es"}, headers=world.a.headers["physio"]
    )
    assert "urgencias" in check(client, world.a, major_trauma=True)["instruction"]


def test_the_patient_gets_the_instruction_even_if_pausing_fails(client, world, monkeypatch):
    programme = active_programme(client, world.a)

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure while pausing")

    monkeypatch.setattr(programmes, "transition", broken)
    result = check(client, world.a, bladder_change=True)
    assert result["tier"] == "emergency" and "emergency department" in result["instruction"]
    assert result["recorded"] is False and result["programme_paused"] is False
    monkeypatch.undo()
    status = client.get(f"/v1/programmes/{programme['id']}", headers=world.a.headers["physio"]).json()[
        "status"
    ]
    assert status == "active"  # nothing half-done: the failed step rolled back on its own


def test_unknown_answers_are_refused(client, world):
    response = client.post(
        "/v1/me/symptom-checks", json={"answers": {"feels_odd": True}}, headers=world.a.headers["patient"]
    )
    assert response.status_code == 422
