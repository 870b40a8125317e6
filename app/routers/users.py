import uuid

from fastapi import APIRouter, status

from app.deps import AdminActor, PageDep, SessionDep, UserDep
from app.models.common import Page
from app.models.user import UserCreate, UserPublic, UserUpdate
from app.routing import UnitOfWorkRoute
from app.services import users

router = APIRouter(prefix="/v1/users", tags=["users"], route_class=UnitOfWorkRoute)


@router.get("", response_model=Page[UserPublic])
def list_users(session: SessionDep, actor: AdminActor, page: PageDep):
    return users.list_users(session, actor, page)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, actor: AdminActor):
    user = users.create_user_in_clinic(session, actor, body)
    return user


@router.get("/{user_id}", response_model=UserPublic)
def get_user(user_id: uuid.UUID, user: UserDep):
    return user


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: uuid.UUID, body: UserUpdate, user: UserDep, session: SessionDep, actor: AdminActor):
    users.update_user(session, actor, user, body)
    return user
