"""One typed settings object, read from HEP_* environment variables."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-insecure-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEP_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite:///./hep.db"
    secret_key: str = PLACEHOLDER_SECRET

    # Argon2id parameters. "cheapest" exists only to keep test suites fast; it is refused in prod.
    argon2_profile: Literal["rfc9106-low-memory", "cheapest"] = "rfc9106-low-memory"
    access_token_minutes: int = Field(15, ge=1, le=60)
    refresh_token_days: int = Field(30, ge=1, le=365)
    patient_access_token_minutes: int = Field(60, ge=1, le=24 * 60)
    patient_refresh_token_days: int = Field(180, ge=1, le=730)
    # However often it rotates, a patient's sign-in lasts at most this long; then the app enrols again.
    patient_session_max_days: int = Field(365, ge=1, le=1825)
    enrolment_code_days: int = Field(7, ge=1, le=30)

    # Failed sign-ins (staff passwords and patient enrolment codes) per window before 429.
    login_window_seconds: int = Field(900, ge=10)
    login_max_failures_per_account: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(30, ge=1)

    cors_origins: list[str] = []
    webhook_allow_private: bool = False
    # "inprocess": the API process delivers webhooks itself; "off": only `hep worker` processes do.
    dispatcher: Literal["inprocess", "off"] = "inprocess"
    # Seconds between the periodic jobs' checks for due runs, in every process that runs a dispatcher.
    jobs_interval_seconds: float = Field(60.0, ge=0.05, le=3600)
    # A read's answer waits until its audit row is committed (app.group_commit states both guarantees).
    audit_wait: bool = True
    # The event feed holds back events this young, so that late-committing transactions are not skipped.
    event_feed_settle_seconds: float = Field(5.0, ge=0, le=300)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # The sign-in routes (/v1/auth/*, /v1/patient-auth/*) take a few short fields and need no credential:
    # a small limit keeps an anonymous caller from making the service parse megabytes.
    max_sign_in_body_bytes: int = Field(4096, ge=512)
    # Writing requests (`def` routes) inside the app at once, per process (0: no limit). Unset: 1 on SQLite
    # (one writer; see app.routing.WriteSlots), 8 on PostgreSQL (enough to overlap database waits; more
    # only makes the threads take turns at the interpreter: docs/performance.md). Read routes need no slot.
    max_concurrent_requests: int | None = Field(None, ge=0, le=1000)

    # When set, GET /metrics needs `Authorization: Bearer <this token>`; unset, /metrics is open (keep it
    # off the public load balancer). See docs/operations.md.
    metrics_token: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The base of the FHIR canonical URLs the service defines (extensions, code systems, identifier
    # systems, exercises), e.g. https://fhir.clinic.example.org. Unset: this deployment's own FHIR base
    # (scheme and host of the request, then /fhir/r4). docs/fhir.md.
    fhir_canonical_base: str | None = Field(None, pattern=r"^https?://[^\s/]+(/[^\s]*)?[^/\s]$")

    demo: bool = False
    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> "Settings":
        if self.env != "dev" and (self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "HEP_SECRET_KEY must be set to a random value of at least 32 characters outside HEP_ENV=dev"
            )
        if self.env == "prod" and self.argon2_profile == "cheapest":
            raise ValueError("HEP_ARGON2_PROFILE=cheapest is for tests only and is refused when HEP_ENV=prod")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def concurrent_requests(self) -> int:
        if self.max_concurrent_requests is not None:
            return self.max_concurrent_requests
        return 1 if self.is_sqlite else 8


@lru_cache
def get_settings() -> Settings:
    return Settings()
