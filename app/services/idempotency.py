"""Idempotency keys, the storage side: claim a caller's key in the request's transaction, store the first
answer in the same transaction, replay it to a retry, prune keys after 24 hours.

How a key is claimed decides what a concurrent duplicate sees. The claim is an INSERT … ON CONFLICT DO
NOTHING on the unique (clinic, caller, key digest), made in the request's own transaction before the route
creates anything, and the answer is written into that row before the same transaction commits. So:
- a retry after the first committed finds the row with its answer and is given it (the route does not run);
- a duplicate sent while the first is still running waits: on PostgreSQL its INSERT blocks on the
  uncommitted row until the first transaction ends, then skips (committed: the answer is read and
  replayed) or goes in (rolled back: this request creates, as the first never did); on SQLite the first
  holds the one write lock from its first statement (BEGIN IMMEDIATE, app/db.py), so the duplicate's
  transaction starts only after the first has ended;
- a request that fails rolls its claim back with everything else: only successful answers are stored and
  a failed request leaves the key free for a retry; a crash between the two cannot happen, they are one
  commit.

Nothing here trusts the database with what a key opens: the key is stored as a keyed digest, and the
answer (a secret shown once, patient data) is encrypted with AES-GCM under a key derived from the server's
secret and the client's Idempotency-Key, which is never stored. A database dump alone reads no answer.
"""

import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from app.errors import Code, Conflict, ServiceUnavailable
from app.models.common import Actor, new_id
from app.models.idempotency import IdempotencyKey
from app.store import InsertNew

# How long a key answers (the IETF draft leaves it to the server; 24 hours as Stripe and the issue say).
KEY_LIFETIME = timedelta(hours=24)

_TABLE = IdempotencyKey.__table__  # type: ignore[attr-defined]
_INSERT_NEW = InsertNew(_TABLE)
_CLAIM_TRIES = 3


class IdempotencyKeyReused(Conflict):
    """The key was first sent with another request (method, path, query or body)."""

    code, title = Code.IDEMPOTENCY_KEY_REUSED, "Idempotency-Key reused"


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """A key this request holds: `replay` is the stored first answer, or None when this request is the
    first and must create (then its answer is stored with `store`)."""

    row_id: uuid.UUID
    cipher_key: bytes = b""
    digest: str = ""
    replay: Answer | None = None


def _derive(secret: str, label: bytes, actor: Actor, key: str) -> bytes:
    scope = b"\0".join((label, actor.clinic_id.bytes, actor.id.bytes, key.encode("ascii")))
    return hmac.new(secret.encode(), scope, hashlib.sha256).digest()


def fingerprint(secret: str, material: bytes) -> str:
    """A keyed digest of what the request asked (method, route, path, query, body): a plain hash of a
    small body would let a dump's reader test guesses of its content."""
    return hmac.new(secret.encode(), b"hep-idempotency-request\0" + material, hashlib.sha256).hexdigest()


def claim(session: Session, secret: str, actor: Actor, key: str, request: str, now: datetime) -> Claim:
    """Take the caller's key for this request, or find the answer it already gave (see the module)."""
    digest = _derive(secret, b"hep-idempotency-key", actor, key).hex()
    cipher_key = _derive(secret, b"hep-idempotency-answer", actor, key)
    scope = (
        col(IdempotencyKey.clinic_id) == actor.clinic_id,
        col(IdempotencyKey.caller_id) == actor.id,
        col(IdempotencyKey.key_digest) == digest,
    )
    connection = session.connection()
    row_id = new_id()
    values = {
        "id": row_id,
        "clinic_id": actor.clinic_id,
        "caller_id": actor.id,
        "key_digest": digest,
        "fingerprint": request,
        "created_at": now,
    }
    # The row the insert ran into can be gone by the time it is read or taken over (the daily prune, or a
    # first request that failed and freed its key): then the key is free and the insert is tried again.
    for _ in range(_CLAIM_TRIES):
        if _INSERT_NEW(connection, values):
            return Claim(row_id, cipher_key, digest)
        stored = connection.execute(select(_TABLE).where(*scope)).first()
        if stored is not None and stored.created_at < now - KEY_LIFETIME:
            # Expired but not pruned yet: a new first use. A concurrent retry's UPDATE waits for this one's
            # row lock, then matches nothing (the row is no longer expired) and reads the new answer.
            taken = connection.execute(
                update(_TABLE)
                .where(*scope, col(IdempotencyKey.created_at) < now - KEY_LIFETIME)
                .values(fingerprint=request, created_at=now, status_code=None, answer=None)
            )
            if taken.rowcount == 1:
                return Claim(stored.id, cipher_key, digest)
            stored = connection.execute(select(_TABLE).where(*scope)).first()
        if stored is not None:
            break
    else:
        raise ServiceUnavailable("This Idempotency-Key is changing hands; retry the request.")
    if not hmac.compare_digest(stored.fingerprint, request):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was first used with a different request; use a new key for a new request."
        )
    return Claim(stored.id, replay=_open(cipher_key, digest, stored.status_code, stored.answer))


def store(session: Session, held: Claim, answer: Answer) -> None:
    """The first answer, into the claimed row, in the transaction that made it. Only a success is kept:
    any other answer frees the key for a retry."""
    if not 200 <= answer.status_code < 300:
        session.connection().execute(delete(_TABLE).where(col(IdempotencyKey.id) == held.row_id))
        return
    sealed = json.dumps(answer.headers).encode() + b"\n" + answer.body
    nonce = os.urandom(12)
    ciphertext = AESGCM(held.cipher_key).encrypt(nonce, sealed, held.digest.encode())
    session.connection().execute(
        update(_TABLE)
        .where(col(IdempotencyKey.id) == held.row_id)
        .values(status_code=answer.status_code, answer=nonce + ciphertext)
    )


def _open(cipher_key: bytes, digest: str, status_code: int, answer: bytes) -> Answer:
    sealed = AESGCM(cipher_key).decrypt(answer[:12], answer[12:], digest.encode())
    headers, body = sealed.split(b"\n", 1)
    return Answer(status_code, json.loads(headers), body)


def prune(session: Session, clinic_id: uuid.UUID, now: datetime) -> int:
    """Delete the clinic's keys older than KEY_LIFETIME (the daily prune job); returns how many."""
    result = session.execute(
        delete(IdempotencyKey).where(
            col(IdempotencyKey.clinic_id) == clinic_id,
            col(IdempotencyKey.created_at) < now - KEY_LIFETIME,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
