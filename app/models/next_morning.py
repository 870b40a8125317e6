"""The next-morning response: how the patient's back and legs feel the morning after a day's sessions.

The pain-monitoring model's third check (clinical-content.md §2.2b): pain and stiffness the next morning
should be no worse than before the session. One answer per local day of sessions, which the app may send
again (a PUT: the last answer stands).
"""

import datetime as dt
import uuid

from pydantic import BaseModel, Field
from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, clinic_fk, id_field, utc_field
from app.models.session_log import Response


class NextMorningReport(SQLModel, table=True):
    __tablename__ = "next_morning_report"
    __table_args__ = (
        UniqueConstraint("patient_id", "session_date"),
        CheckConstraint("response IN ('better', 'same', 'worse')", name="response_values"),
        Index(
            "ix_next_morning_report_clinic_id_patient_id_session_date",
            "clinic_id",
            "patient_id",
            "session_date",
        ),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    programme_id: uuid.UUID = SQLField(foreign_key="programme.id", ondelete="CASCADE")
    # The local day of the sessions the answer is about (the morning after it is when it is given).
    session_date: dt.date
    response: Response = SQLField(sa_type=String(8))
    reported_at: dt.datetime = utc_field(default_now=True)


class NextMorningUpsert(BaseModel):
    model_config = INPUT

    response: Response = Field(
        description="Back and leg pain and stiffness this morning, compared with before yesterday's sessions"
    )


class NextMorningResult(BaseModel):
    date: dt.date = Field(description="The local day of the sessions the answer is about")
    response: Response
    instruction: list[str] = Field(
        description="What to do, in the patient's language (empty when all is well)"
    )
    alert_raised: bool = Field(description="The physio was told (worse mornings twice in a row)")
