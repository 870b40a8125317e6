"""API keys for a clinic's EHR integration: shown once, stored as a hash, revocable at once."""

import uuid

from sqlmodel import Session, select

from app.db import utcnow
from app.errors import NotFound
from app.models.auth import ApiKey
from app.models.common import Actor, Page
from app.security import new_api_key, sha256_hex
from app.services.pagination import PageParams, paginate


def create_api_key(
    session: Session, clinic_id: uuid.UUID, name: str, created_by: uuid.UUID | None
) -> tuple[ApiKey, str]:
    secret = new_api_key()
    key = ApiKey(
        clinic_id=clinic_id, name=name, prefix=secret[:12], key_hash=sha256_hex(secret), created_by=created_by
    )
    session.add(key)
    session.flush()
    return key, secret


def list_api_keys(session: Session, actor: Actor, params: PageParams) -> Page[ApiKey]:
    return paginate(session, select(ApiKey).where(ApiKey.clinic_id == actor.clinic_id), ApiKey.id, params)


def revoke_api_key(session: Session, actor: Actor, key_id: uuid.UUID) -> None:
    key = session.exec(select(ApiKey).where(ApiKey.clinic_id == actor.clinic_id, ApiKey.id == key_id)).first()
    if key is None:
        raise NotFound("No such API key in this clinic.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
