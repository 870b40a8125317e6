"""The printed handout: what it is rendered from (one programme revision in the patient's language)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.programme_view import ProgrammeView

Paper = Literal["a4", "letter"]


class Handout(BaseModel):
    model_config = ConfigDict(frozen=True)

    clinic_name: str = Field(description="The clinic that prescribed the programme")
    patient_name: str = Field(description="The patient's display name")
    revision_date: date = Field(description="When the revision printed was made (the patient's local date)")
    printed_on: date = Field(description="The patient's local date when the handout was made")
    view: ProgrammeView = Field(description="The revision, rendered in the patient's language")
