"""SQLModel tables and their schema families. Importing this package registers every table and sets up
its mapper at once: SQLAlchemy otherwise does that at the first ORM query, and the session log's path
reads a table model's attributes (SessionLog.model_construct) before it runs any."""

from sqlalchemy.orm import configure_mappers

from app.models.audit import AuditEvent
from app.models.auth import ApiKey, EnrolmentCode, LoginFailure, RefreshToken
from app.models.clinic import Clinic
from app.models.exercise import Exercise, ExerciseText
from app.models.idempotency import IdempotencyKey
from app.models.jobs import JobRun
from app.models.monitoring import Interaction
from app.models.next_morning import NextMorningReport
from app.models.outcome import OutcomeResponse
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeItem, ProgrammePhase, ProgrammeRevision, Template
from app.models.progression import ProgressionSuggestion
from app.models.reminders import CalendarToken, MissedDay, ReminderPreference
from app.models.safety import SafetyAlert, SymptomCheck
from app.models.session_log import SessionLog
from app.models.user import User
from app.models.webhook import Delivery, DeliveryAttempt, Event, WebhookEndpoint

configure_mappers()

__all__ = [
    "ApiKey",
    "AuditEvent",
    "CalendarToken",
    "Clinic",
    "Delivery",
    "DeliveryAttempt",
    "EnrolmentCode",
    "Event",
    "Exercise",
    "ExerciseText",
    "IdempotencyKey",
    "Interaction",
    "JobRun",
    "LoginFailure",
    "MissedDay",
    "NextMorningReport",
    "OutcomeResponse",
    "Patient",
    "Programme",
    "ProgrammeItem",
    "ProgrammePhase",
    "ProgrammeRevision",
    "ProgressionSuggestion",
    "RefreshToken",
    "ReminderPreference",
    "SafetyAlert",
    "SessionLog",
    "SymptomCheck",
    "Template",
    "User",
    "WebhookEndpoint",
]
