"""Sign-in for the three callers: staff passwords, patient enrolment codes and EHR API keys."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app import store
from app.config import Settings
from app.db import Db, utcnow
from app.errors import Code, Conflict, Unauthorized
from app.models.auth import ApiKey, EnrolmentCode, RefreshToken, SubjectKind, TokenPair
from app.models.clinic import Clinic
from app.models.common import Actor
from app.models.patient import Patient
from app.models.user import User
from app.security import (
    API_KEY_PREFIX,
    InvalidToken,
    create_access_token,
    decode_access_token,
    hash_password,
    keyed_hash,
    new_enrolment_code,
    new_opaque_token,
    normalise_enrolment_code,
    password_needs_rehash,
    sha256_hex,
    verify_password,
)
from app.services import audit, events
from app.services.rate_limit import (
    account_key,
    address_key,
    check_failures,
    clear_failures,
    failures,
    pair_key,
    record_failures,
    refuse_at_limit,
    slow_the_guesser,
)
from app.unit_of_work import independent_unit_of_work


class InvalidCredentials(Unauthorized):
    """A failed sign-in (its count, or a token family's revocation, is already stored: see below)."""

    code = Code.INVALID_CREDENTIALS


# What a failed sign-in leaves behind must be stored although the request answers 401 and its own unit of
# work rolls back: so it is written in a unit of work of its own, before the error is raised.


def _count_failure(keys: list[str], window_seconds: int) -> None:
    with independent_unit_of_work() as counting:
        record_failures(counting, keys, window_seconds)


def _revoke_reused_family(clinic_id: uuid.UUID, family_id: uuid.UUID) -> None:
    with independent_unit_of_work() as revoking:
        _revoke_family(revoking, clinic_id, family_id)


# --- issuing and rotating tokens -------------------------------------------------------------------


def _issue(
    session: Session,
    settings: Settings,
    *,
    kind: SubjectKind,
    subject_id: uuid.UUID,
    clinic_id: uuid.UUID,
    role: str | None,
    family: RefreshToken | None = None,
    generation: int = 0,
) -> TokenPair:
    """A new access token and refresh token; `family`: the refresh token this one rotates."""
    now = utcnow()
    if kind == "staff":
        access_lifetime = timedelta(minutes=settings.access_token_minutes)
        refresh_lifetime = timedelta(days=settings.refresh_token_days)
        family_expires_at = family.family_expires_at if family else None
    else:
        access_lifetime = timedelta(minutes=settings.patient_access_token_minutes)
        refresh_lifetime = timedelta(days=settings.patient_refresh_token_days)
        # A patient's sign-in has an absolute end: rotating never makes it last longer.
        family_expires_at = (
            family.family_expires_at if family else now + timedelta(days=settings.patient_session_max_days)
        )
    expires_at = now + refresh_lifetime
    if family_expires_at is not None:
        expires_at = min(expires_at, family_expires_at)
    refresh_token = new_opaque_token()
    session.add(
        RefreshToken(
            clinic_id=clinic_id,
            subject_kind=kind,
            user_id=subject_id if kind == "staff" else None,
            patient_id=subject_id if kind == "patient" else None,
            family_id=family.family_id if family else uuid.uuid4(),
            token_hash=sha256_hex(refresh_token),
            expires_at=expires_at,
            family_expires_at=family_expires_at,
        )
    )
    access_token = create_access_token(
        settings.secret_key,
        kind=kind,
        subject=subject_id,
        clinic_id=clinic_id,
        lifetime=access_lifetime,
        role=role,
        generation=generation,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=int(access_lifetime.total_seconds()),
    )


def _issue_for_patient(
    session: Session, settings: Settings, patient: Patient, family: RefreshToken | None = None
) -> TokenPair:
    """A patient's tokens, the access token at the patient's current session generation."""
    return _issue(
        session,
        settings,
        kind="patient",
        subject_id=patient.id,
        clinic_id=patient.clinic_id,
        role=None,
        family=family,
        generation=patient.session_generation,
    )


def _account_for(session: Session, email: str, password: str, clinic_slug: str | None) -> User | None:
    """The account this password opens. An email is unique within a clinic, not across clinics: each of
    its accounts is tried (a wrong email still costs one hash, as a wrong password does). The clinic's
    slug (OAuth2 `client_id`) only chooses between accounts the password opens at more than one clinic:
    any other client_id an OAuth2 client sends as its own name changes nothing."""
    accounts = list(session.exec(select(User).where(User.email == email)))
    matches = [user for user in accounts if verify_password(user.password_hash, password)]
    if not accounts:
        verify_password(None, password)
    if len(matches) > 1 and clinic_slug:
        chosen = session.exec(select(Clinic.id).where(Clinic.slug == clinic_slug)).first()
        matches = [user for user in matches if user.clinic_id == chosen]
    if len(matches) > 1:
        raise Conflict(
            "This email and password open accounts at more than one clinic: send the clinic's slug as "
            "client_id.",
            code=Code.CLINIC_REQUIRED,
        )
    return matches[0] if matches else None


def login(
    session: Session,
    settings: Settings,
    email: str,
    password: str,
    address: str,
    clinic_slug: str | None = None,
) -> TokenPair:
    email = email.strip().lower()
    account, by_address = account_key(email), address_key("login-addr", address)
    pair = pair_key(email, address)
    window = settings.login_window_seconds
    seen = failures(session, [account, by_address, pair], window)
    refuse_at_limit(seen, {by_address: settings.login_max_failures_per_address}, window)
    slow_the_guesser(seen, account, pair, settings.login_max_failures_per_account, window)
    user = _account_for(session, email, password, clinic_slug)
    if user is None or not user.active:
        _count_failure([account, by_address, pair], window)
        raise InvalidCredentials("The email or password is not right.")
    # The owner's own mistypes are forgiven; the account's count stays, so a guesser gains nothing.
    clear_failures(session, [pair])
    if password_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    return _issue(
        session, settings, kind="staff", subject_id=user.id, clinic_id=user.clinic_id, role=user.role
    )


def refresh(session: Session, settings: Settings, token: str, kind: SubjectKind) -> TokenPair:
    row = session.exec(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token))).first()
    now = utcnow()
    if row is None or row.subject_kind != kind or row.revoked_at is not None:
        raise Unauthorized("The refresh token is not valid.", code=Code.INVALID_REFRESH_TOKEN)
    if row.expires_at <= now:
        raise Unauthorized("The refresh token has expired; sign in again.", code=Code.REFRESH_TOKEN_EXPIRED)
    # Mark used atomically: of two concurrent refreshes with one token, exactly one wins.
    claimed = session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.id) == row.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        # A rotated token came back: someone holds a copy. Revoke the whole family.
        _revoke_reused_family(row.clinic_id, row.family_id)
        raise InvalidCredentials(
            "This refresh token was already used; every session from it has been signed out.",
            code=Code.REFRESH_TOKEN_REUSED,
        )
    if kind == "staff":
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            raise Unauthorized("The account is no longer active.", code=Code.INVALID_REFRESH_TOKEN)
        return _issue(
            session,
            settings,
            kind="staff",
            subject_id=user.id,
            clinic_id=user.clinic_id,
            role=user.role,
            family=row,
        )
    patient = session.get(Patient, row.patient_id)
    if patient is None:
        raise Unauthorized("The patient no longer exists.", code=Code.INVALID_REFRESH_TOKEN)
    return _issue_for_patient(session, settings, patient, family=row)


def _revoke(session: Session, model: type[RefreshToken] | type[EnrolmentCode], *where: Any) -> None:
    """Revoke, now, the credentials the conditions select that are not revoked yet."""
    session.execute(update(model).where(*where, col(model.revoked_at).is_(None)).values(revoked_at=utcnow()))


def _revoke_family(session: Session, clinic_id: uuid.UUID, family_id: uuid.UUID) -> None:
    family = (col(RefreshToken.clinic_id) == clinic_id, col(RefreshToken.family_id) == family_id)
    _revoke(session, RefreshToken, *family)


def logout(session: Session, token: str) -> None:
    row = session.exec(select(RefreshToken).where(RefreshToken.token_hash == sha256_hex(token))).first()
    if row is not None:
        _revoke_family(session, row.clinic_id, row.family_id)


# --- patient enrolment -----------------------------------------------------------------------------


def sign_out_patient(session: Session, actor: Actor, patient: Patient) -> None:
    """Sign every device of the patient out at once (a lost phone): refresh tokens are revoked, and the
    session generation moves on, so access tokens already issued fail their next request."""
    session.execute(
        update(Patient)
        .where(col(Patient.clinic_id) == patient.clinic_id, col(Patient.id) == patient.id)
        .values(session_generation=col(Patient.session_generation) + 1)
    )
    _revoke(
        session,
        RefreshToken,
        col(RefreshToken.clinic_id) == patient.clinic_id,
        col(RefreshToken.patient_id) == patient.id,
    )
    audit.record(session, actor, "patient.sign_out", "patient", patient.id, patient.id)
    events.emit(
        session,
        patient.clinic_id,
        "patient.signed_out",
        {"patient_id": patient.id, "external_id": patient.external_id},
    )


def issue_enrolment_code(
    session: Session, settings: Settings, actor: Actor, patient: Patient, *, revoke_existing: bool = True
) -> tuple[str, datetime]:
    """A new single-use code; unless `revoke_existing` is false, the devices signed in so far (if any
    ever was) are signed out: the usual reason for a new code is a lost or replaced phone."""
    ever_enrolled = select(RefreshToken.id).where(
        RefreshToken.clinic_id == patient.clinic_id, RefreshToken.patient_id == patient.id
    )
    if revoke_existing and session.exec(ever_enrolled.limit(1)).first() is not None:
        sign_out_patient(session, actor, patient)
    # One live code per patient: issuing a new one retires any earlier unused code.
    _revoke(
        session,
        EnrolmentCode,
        col(EnrolmentCode.clinic_id) == patient.clinic_id,
        col(EnrolmentCode.patient_id) == patient.id,
        col(EnrolmentCode.used_at).is_(None),
    )
    now = utcnow()
    code = new_enrolment_code()
    expires_at = now + timedelta(days=settings.enrolment_code_days)
    session.add(
        EnrolmentCode(
            clinic_id=patient.clinic_id,
            patient_id=patient.id,
            code_hash=keyed_hash(settings.secret_key, code),
            expires_at=expires_at,
            created_by=actor.id,
        )
    )
    audit.record(session, actor, "enrolment_code.create", "patient", patient.id, patient.id)
    return code, expires_at


def enrol(session: Session, settings: Settings, code: str, address: str) -> TokenPair:
    limits = {address_key("enrol-addr", address): settings.login_max_failures_per_address}
    check_failures(session, limits, settings.login_window_seconds)
    now = utcnow()
    row = session.exec(
        select(EnrolmentCode).where(
            EnrolmentCode.code_hash == keyed_hash(settings.secret_key, normalise_enrolment_code(code))
        )
    ).first()
    claimed = None
    if row is not None and row.revoked_at is None and row.expires_at > now:
        claimed = session.exec(
            update(EnrolmentCode)
            .where(col(EnrolmentCode.id) == row.id, col(EnrolmentCode.used_at).is_(None))
            .values(used_at=now)
        )
    if row is None or claimed is None or claimed.rowcount != 1:
        _count_failure(list(limits), settings.login_window_seconds)
        raise InvalidCredentials(
            "That code is not valid: it may be mistyped, used already or expired. "
            "Ask your clinic for a new one.",
            code=Code.INVALID_ENROLMENT_CODE,
        )
    patient = session.get(Patient, row.patient_id)
    if patient is None:  # deleted between issue and use; the foreign key cascade makes this rare
        raise Conflict("The patient record for this code no longer exists.", code=Code.PATIENT_GONE)
    actor = Actor(kind="patient", id=patient.id, clinic_id=patient.clinic_id)
    audit.record(session, actor, "patient.enrol", "patient", patient.id, patient.id)
    return _issue_for_patient(session, settings, patient)


# --- authenticating a request ----------------------------------------------------------------------


def _claims(settings: Settings, token: str) -> dict[str, Any]:
    try:
        return decode_access_token(settings.secret_key, token)
    except InvalidToken as exc:
        expired = "expired" in str(exc).lower()
        raise Unauthorized(
            "The access token has expired; refresh it." if expired else "The access token is not valid.",
            code=Code.TOKEN_EXPIRED if expired else "invalid_token",
        ) from exc


def authenticate(session: Session, settings: Settings, token: str) -> Actor:
    if token.startswith(API_KEY_PREFIX):
        key = session.exec(select(ApiKey).where(ApiKey.key_hash == sha256_hex(token))).first()
        if key is None or key.revoked_at is not None:
            raise Unauthorized("The API key is not valid or has been revoked.", code=Code.INVALID_API_KEY)
        return Actor(kind="api_key", id=key.id, clinic_id=key.clinic_id)
    claims = _claims(settings, token)
    subject_id, clinic_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["cid"])
    if claims["typ"] == "staff":
        user = session.get(User, subject_id)
        if user is None or not user.active or user.clinic_id != clinic_id:
            raise Unauthorized("The account is no longer active.", code=Code.INVALID_TOKEN)
        # The role comes from the database, so a demotion takes effect on the next request.
        return Actor(kind="staff", id=user.id, clinic_id=user.clinic_id, role=user.role)
    return patient_actor(session, subject_id, clinic_id, claims.get("gen", 0))


def patient_claims(settings: Settings, token: str) -> tuple[uuid.UUID, uuid.UUID, int] | None:
    """A patient access token's patient, clinic and session generation, checked without the database
    (Unauthorized if invalid or expired; None for another kind of credential); checked_patient() next."""
    if token.startswith(API_KEY_PREFIX):
        return None
    claims = _claims(settings, token)
    if claims["typ"] != "patient":
        return None
    return uuid.UUID(claims["sub"]), uuid.UUID(claims["cid"]), claims.get("gen", 0)


def patient_actor(db: Db, patient_id: uuid.UUID, clinic_id: uuid.UUID, generation: int) -> Actor:
    """The patient-app caller, checked against the database (checked_patient)."""
    return checked_patient(store.patient_row(db, patient_id), patient_id, clinic_id, generation)


def checked_patient(
    patient: store.Caller | None, patient_id: uuid.UUID, clinic_id: uuid.UUID, gen: int
) -> Actor:
    """The caller of a patient token with these claims, by the patient's row as it is now: the patient
    still exists, in that clinic, and was not signed out (a lost phone: the token's generation is behind)."""
    if patient is None or patient.clinic_id != clinic_id:
        raise Unauthorized("The patient no longer exists.", code=Code.INVALID_TOKEN)
    if patient.session_generation != gen:
        raise Unauthorized("This device has been signed out; enrol again.", code=Code.SIGNED_OUT)
    return Actor(
        kind="patient", id=patient_id, clinic_id=clinic_id, locale=patient.locale, timezone=patient.timezone
    )
