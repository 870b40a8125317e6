"""Patient-facing safety text shown in every programme snapshot (clinical-content.md §3.1 and §3.3).

Written in plain words; English is required and is the fallback for any other locale. Also the tables of
symptom check-ins (red-flag answers) and of the alerts clinicians work through.
"""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON, CheckConstraint, Index, String
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, clinic_fk, id_field, utc_field

EMERGENCY_WARNING: dict[str, str] = {
    "en": (
        "Get emergency help now (go to an emergency department or call your emergency number) if you "
        "notice any of these, even if your exercises are going well: numbness or pins and needles "
        "between your legs, around your genitals or back passage, or a change in feeling when you wipe; "
        "new trouble starting, stopping or feeling your wee, or leaking; losing control of your bowels "
        "or not feeling them; new problems with sexual function; sciatica, weakness or numbness in both "
        "legs. Do not wait for your next appointment and do not just message your physio."
    ),
    "es": (
        "Busca ayuda urgente ahora (ve a urgencias o llama al número de emergencias) si notas cualquiera "
        "de estas cosas, aunque los ejercicios vayan bien: entumecimiento u hormigueo entre las piernas, "
        "alrededor de los genitales o del ano, o notar distinto al limpiarte; problemas nuevos para "
        "empezar, parar o notar la orina, o escapes; perder el control de las heces o no notarlas; "
        "problemas sexuales nuevos; ciática, debilidad o entumecimiento en las dos piernas. No esperes a "
        "tu próxima cita ni te limites a escribir a tu fisioterapeuta."
    ),
}

# What to do now, per tier of a symptom check-in ("clear" when no red flag was reported).
TIER_INSTRUCTIONS: dict[str, dict[str, str]] = {
    "emergency": {
        "en": "Go to an emergency department now, or call your emergency number. Do not wait to hear from "
        "your physio. Your exercise programme is paused and your clinic has been alerted.",
        "es": "Ve a urgencias ahora o llama al número de emergencias. No esperes a que te conteste tu "
        "fisioterapeuta. Tu programa de ejercicios queda en pausa y se ha avisado a tu clínica.",
    },
    "urgent": {
        "en": "Contact your clinic today. If you cannot reach them today, see an urgent care service or your "
        "doctor today. Your exercise programme is paused until your physio has reviewed this.",
        "es": "Contacta hoy con tu clínica. Si no puedes hablar con ellos hoy, acude hoy a un servicio de "
        "atención urgente o a tu médico. Tu programa queda en pausa hasta que tu fisioterapeuta lo revise.",
    },
    "routine": {
        "en": "Your physio has been told and will review this with you. You can carry on with your "
        "exercises unless they make your symptoms worse.",
        "es": "Se ha avisado a tu fisioterapeuta, que lo revisará contigo. Puedes seguir con tus ejercicios "
        "salvo que empeoren tus síntomas.",
    },
    "clear": {
        "en": "Thank you. None of the warning signs were reported. If anything changes, check again straight "
        "away.",
        "es": "Gracias. No has señalado ninguna señal de alarma. Si algo cambia, vuelve a comprobarlo "
        "enseguida.",
    },
}

STOP_RULES_INTRO: dict[str, str] = {
    "en": "Stop the exercise and log how it went if any of the stop signs listed with it happens.",
    "es": "Deja el ejercicio y anota cómo ha ido si aparece cualquiera de las señales de parada que lo "
    "acompañan.",
}


def localised(texts: dict[str, str], locale: str) -> str:
    return texts.get(locale, texts["en"])


Tier = Literal["emergency", "urgent", "routine"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
AlertSource = Literal["symptom_check", "session_log"]


class RedFlagAnswers(BaseModel):
    """The red-flag questions (clinical-content.md §3.1), each a yes/no the app asks explicitly.

    Unanswered questions count as "no": the app should ask all of them, but a partial answer must still be
    assessed at once rather than refused.
    """

    model_config = INPUT

    # Cauda equina syndrome (emergency)
    saddle_numbness: bool = Field(
        False,
        description="Numbness or pins and needles between the legs, around "
        "the genitals or back passage, or a change in feeling when wiping",
    )
    bladder_change: bool = Field(
        False,
        description="New trouble starting or controlling urine, not feeling "
        "it pass, not sensing a full bladder, or new leaking",
    )
    bowel_change: bool = Field(
        False, description="Loss of bowel control or of the feeling of passing a motion"
    )
    sexual_dysfunction: bool = Field(
        False, description="New problems with erection, ejaculation or genital feeling"
    )
    both_legs: bool = Field(False, description="Sciatica, weakness or numbness in both legs")
    # Metastatic spinal cord compression (emergency with cancer history + a neurological sign)
    cancer_history: bool = Field(False, description="Has, or has had, cancer")
    severe_or_worsening_pain: bool = Field(False, description="Severe, worsening, or upper/mid-back pain")
    new_nerve_pain: bool = Field(False, description="New pain shooting along a nerve")
    walking_difficulty: bool = Field(False, description="New difficulty walking")
    # Major trauma (emergency)
    major_trauma: bool = Field(False, description="The pain began after a serious fall, crash or blow")
    # Progressive neurological deficit (urgent)
    leg_weakness_worsening: bool = Field(
        False,
        description="New or worsening leg weakness, e.g. the toes "
        "catching or the foot slapping, or numbness spreading quickly",
    )
    # Infection (urgent)
    fever_or_unwell: bool = Field(False, description="Fever, chills or feeling generally unwell")
    infection_risk: bool = Field(
        False,
        description="A recent infection, injecting drug use, weakened "
        "immunity (steroids, biologics, chemotherapy, HIV) or past tuberculosis",
    )
    # Malignancy (urgent)
    weight_loss: bool = Field(False, description="Weight loss without trying")
    night_pain: bool = Field(
        False, description="Constant pain, or pain at night, that rest or position does not ease"
    )
    no_improvement_month: bool = Field(False, description="No improvement after about a month")
    # Fracture (urgent)
    fracture_risk: bool = Field(
        False,
        description="A minor fall or strain with osteoporosis, older age or "
        "long-term steroid use, and new severe pain",
    )
    # Routine review
    morning_stiffness: bool = Field(False, description="Morning stiffness lasting over 30 minutes")
    symptoms_spreading: bool = Field(False, description="Symptoms keep spreading further down the leg")


class SymptomCheckIn(BaseModel):
    model_config = INPUT

    answers: RedFlagAnswers


class SymptomCheck(SQLModel, table=True):
    __tablename__ = "symptom_check"
    __table_args__ = (
        CheckConstraint("tier IS NULL OR tier IN ('emergency', 'urgent', 'routine')", name="tier_values"),
        Index("ix_symptom_check_clinic_id_patient_id_id", "clinic_id", "patient_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    answers: dict[str, bool] = SQLField(sa_type=JSON)
    tier: Tier | None = SQLField(default=None, sa_type=String(12))
    reasons: list[str] = SQLField(sa_type=JSON)
    created_at: datetime = utc_field(default_now=True)


class SymptomCheckResult(BaseModel):
    id: uuid.UUID | None = Field(description="The stored check-in; null if it could not be stored")
    tier: Tier | None = Field(description="null: no red flag reported")
    reasons: list[str]
    instruction: str = Field(description="What to do now, in the patient's language")
    programme_paused: bool
    alert_raised: bool
    recorded: bool = Field(
        description="False if storing the check-in or alerting the clinic failed: the "
        "instruction still stands, and the app should show it and retry"
    )


class SafetyAlert(SQLModel, table=True):
    __tablename__ = "safety_alert"
    __table_args__ = (
        CheckConstraint("tier IN ('emergency', 'urgent', 'routine')", name="tier_values"),
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status_values"),
        CheckConstraint("source IN ('symptom_check', 'session_log')", name="source_values"),
        Index("ix_safety_alert_clinic_id_status_id", "clinic_id", "status", "id"),
        Index("ix_safety_alert_clinic_id_patient_id_id", "clinic_id", "patient_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    programme_id: uuid.UUID | None = SQLField(default=None, foreign_key="programme.id", ondelete="SET NULL")
    item_id: uuid.UUID | None = SQLField(default=None, foreign_key="programme_item.id", ondelete="SET NULL")
    tier: Tier = SQLField(sa_type=String(12))
    source: AlertSource = SQLField(sa_type=String(16))
    reasons: list[str] = SQLField(sa_type=JSON)
    # Ids of the session logs or the symptom check that justify the alert.
    evidence: list[str] = SQLField(sa_type=JSON)
    status: AlertStatus = SQLField(default="open", sa_type=String(16))
    acknowledged_by: uuid.UUID | None = None
    acknowledged_at: datetime | None = utc_field(nullable=True)
    resolved_by: uuid.UUID | None = None
    resolved_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class SafetyAlertPublic(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    programme_id: uuid.UUID | None
    item_id: uuid.UUID | None
    tier: Tier
    source: AlertSource
    reasons: list[str]
    evidence: list[str]
    status: AlertStatus
    acknowledged_by: uuid.UUID | None
    acknowledged_at: datetime | None
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime
