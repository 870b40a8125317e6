"""Password hashing, token minting and verification: pure functions, no database."""

import hashlib
import hmac
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from app.config import get_settings

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "hep_"
# No 0/O or 1/I/L: codes are read off paper and typed on phones.
ENROLMENT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ENROLMENT_CODE_LENGTH = 8

ARGON2_PROFILES = {"rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}


@lru_cache
def _hasher() -> PasswordHasher:
    return PasswordHasher.from_parameters(ARGON2_PROFILES[get_settings().argon2_profile])


@lru_cache
def _dummy_hash() -> str:
    # Verified when the account does not exist, so a wrong email costs as long as a wrong password.
    return _hasher().hash("not-a-real-password-just-for-timing")


class InvalidToken(Exception):
    pass


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def keyed_hash(secret_key: str, value: str) -> str:
    """HMAC for low-entropy secrets (enrolment codes) so a leaked table cannot be brute-forced offline."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_enrolment_code() -> str:
    return "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_CODE_LENGTH))


def normalise_enrolment_code(code: str) -> str:
    return code.strip().replace("-", "").replace(" ", "").upper()


def create_access_token(
    secret_key: str,
    *,
    kind: str,
    subject: uuid.UUID,
    clinic_id: uuid.UUID,
    lifetime: timedelta,
    role: str | None = None,
    generation: int | None = None,
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(subject),
        "cid": str(clinic_id),
        "typ": kind,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    if role:
        claims["role"] = role
    if generation:
        claims["gen"] = generation  # the patient's session generation (0 when absent)
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM)


def decode_access_token(secret_key: str, token: str) -> dict[str, Any]:
    """The verified claims of an access token; raises InvalidToken (expired, tampered, malformed).

    A client sends the same token with every request until it expires, so the verified claims are kept
    (by the exact token text and key) and only the expiry is checked again: verifying costs more than the
    rest of a cached read.
    """
    claims = _verified_claims(secret_key, token)
    if claims["exp"] <= time.time():
        raise InvalidToken("Signature has expired")
    return claims


@lru_cache(maxsize=8192)
def _verified_claims(secret_key: str, token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token, secret_key, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "cid", "typ", "exp"]}
        )
        uuid.UUID(claims["sub"])
        uuid.UUID(claims["cid"])
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidToken(str(exc)) from exc
    if claims["typ"] not in ("staff", "patient"):
        raise InvalidToken("unknown token type")
    return claims
