"""The stored first answers of creating POSTs sent with an `Idempotency-Key` (app/idempotency.py).

A row is written in the transaction that creates the resource, so a committed row always carries its
answer and a created resource always has its row: `status_code` and `answer` are NULL only inside that
transaction, where no other request can see them. The key itself is not stored, only a keyed digest of
it; the answer (which may carry a secret shown once, or patient data) is stored encrypted with a key that
only the client's Idempotency-Key and the server's secret can derive (app/services/idempotency.py).
"""

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import clinic_fk, id_field, utc_field


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_key"
    __table_args__ = (
        # One key per caller: a concurrent duplicate's INSERT conflicts with it (on PostgreSQL it waits
        # for the first transaction to end, then conflicts or succeeds).
        UniqueConstraint("clinic_id", "caller_id", "key_digest"),
        # The daily prune deletes a clinic's expired keys.
        Index("ix_idempotency_key_clinic_id_created_at", "clinic_id", "created_at"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    # The user, API key or patient that sent the key (no foreign key: three kinds of caller).
    caller_id: uuid.UUID
    key_digest: str = Field(max_length=64)
    # HMAC of method, route, path, query and body: the same key with another request is refused.
    fingerprint: str = Field(max_length=64)
    created_at: datetime = utc_field(default_now=True)
    status_code: int | None = None
    # nonce + AES-GCM ciphertext of the answer's headers and body.
    answer: bytes | None = Field(default=None, sa_type=LargeBinary)
