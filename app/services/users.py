"""Clinic staff accounts (admins and physiotherapists)."""

import uuid

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import utcnow
from app.errors import Code, Conflict, NotFound
from app.models.common import Actor, Page
from app.models.user import Role, User, UserCreate, UserUpdate
from app.security import hash_password
from app.services.pagination import PageParams, paginate


def _scoped(actor: Actor) -> SelectOfScalar[User]:
    return select(User).where(User.clinic_id == actor.clinic_id)


def list_users(session: Session, actor: Actor, params: PageParams) -> Page[User]:
    return paginate(session, _scoped(actor), User.id, params)


def get_user(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    user = session.exec(_scoped(actor).where(User.id == user_id)).first()
    if user is None:
        raise NotFound("No such user in this clinic.")
    return user


def create_user(
    session: Session, clinic_id: uuid.UUID, email: str, name: str, role: Role, password: str
) -> User:
    email = email.strip().lower()
    # Unique within the clinic only: a conflict never tells one clinic which emails another one uses.
    taken = select(User.id).where(User.clinic_id == clinic_id, User.email == email)
    if session.exec(taken).first() is not None:
        raise Conflict("A user with this email already exists in this clinic.", code=Code.EMAIL_TAKEN)
    user = User(clinic_id=clinic_id, email=email, name=name, role=role, password_hash=hash_password(password))
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError as exc:  # a concurrent request took the email between the check and the insert
        raise Conflict(
            "A user with this email already exists in this clinic.", code=Code.EMAIL_TAKEN
        ) from exc
    return user


def create_user_in_clinic(session: Session, actor: Actor, data: UserCreate) -> User:
    return create_user(session, actor.clinic_id, data.email, data.name, data.role, data.password)


def update_user(session: Session, actor: Actor, user: User, data: UserUpdate) -> User:
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "role", "active"):
        if changes.get(field) is None:
            changes.pop(field, None)
    losing_admin = (
        user.role == "admin"
        and user.active
        and (changes.get("role", "admin") != "admin" or changes.get("active", True) is False)
    )
    if losing_admin and _active_admins(session, actor.clinic_id) <= 1:
        raise Conflict("A clinic must keep at least one active admin.", code=Code.LAST_ADMIN)
    password = changes.pop("password", None)
    if password:
        user.password_hash = hash_password(password)
    for field, value in changes.items():
        setattr(user, field, value)
    user.updated_at = utcnow()
    session.add(user)
    session.flush()
    return user


def _active_admins(session: Session, clinic_id: uuid.UUID) -> int:
    return session.exec(
        select(func.count()).where(User.clinic_id == clinic_id, User.role == "admin", User.active)
    ).one()
