"""SQLModel tables and their schema families. Importing this package registers every table."""

from app.models.audit import AuditEvent
from app.models.auth import ApiKey, EnrolmentCode, LoginFailure, RefreshToken
from app.models.clinic import Clinic
from app.models.patient import Patient
from app.models.user import User

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Clinic",
    "EnrolmentCode",
    "LoginFailure",
    "Patient",
    "RefreshToken",
    "User",
]
