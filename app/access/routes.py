"""Users, API tokens and the audit log over HTTP, under /api/v1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.access import audit, service
from app.access.deps import require
from app.access.policy import Perm, Principal, Role
from app.access.schemas import (
    AuditOut,
    MeOut,
    PasswordIn,
    PasswordOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from app.access.scope import visible_codes
from app.deps import SessionDep, SettingsDep
from app.params import Id4
from core.errors import BadRequest
from core.settings import Settings

router = APIRouter(tags=["access"])

Admin = Annotated[Principal, require(Perm.USERS_MANAGE)]
Owner = Annotated[Principal, require(Perm.OWN_TOKENS)]


@router.get("/me", response_model=MeOut, summary="Who the caller is, and the sections in reach")
def me(principal: Owner, session: SessionDep) -> MeOut:
    return MeOut.of(principal, visible_codes(session, principal))


@router.get("/users", response_model=list[UserOut], summary="Users")
def list_users(_: Admin, session: SessionDep) -> list[UserOut]:
    return [UserOut.of(u) for u in service.list_users(session)]


@router.post(
    "/users", response_model=UserOut, status_code=status.HTTP_201_CREATED, summary="Add a user"
)
def add_user(body: UserIn, _: Admin, session: SessionDep) -> UserOut:
    user = service.add_user(
        session,
        username=body.username,
        role=body.role,
        password=body.password,
        display_name=body.display_name,
        zones=body.zones,
        contact_id=body.contact_id,
    )
    return UserOut.of(user)


@router.get("/users/{user_id}", response_model=UserOut, summary="One user")
def get_user(user_id: Id4, _: Admin, session: SessionDep) -> UserOut:
    return UserOut.of(service.get_user(session, user_id))


@router.patch(
    "/users/{user_id}",
    response_model=UserOut,
    summary="Change a user's role, zones or contact; active=false disables (ends sessions "
    "and revokes tokens)",
)
def update_user(user_id: Id4, body: UserPatch, _: Admin, session: SessionDep) -> UserOut:
    user = service.get_user(session, user_id)
    if body.role is not None or body.zones is not None or body.contact_id is not None:
        role = body.role or Role(user.role)
        zones = body.zones
        if zones is None:
            # Zones belong to zone officers: a new role of another kind drops them.
            zones = [z.name for z in user.zones] if role is Role.ZONE_OFFICER else []
        service.set_role(session, user, role, zones=zones, contact_id=body.contact_id)
    if body.active is not None:
        service.set_active(session, user, body.active, now=datetime.now(UTC))
    return UserOut.of(user)


@router.post(
    "/users/{user_id}/password",
    response_model=PasswordOut,
    summary="Set or generate a password; unlocks the user and ends their sessions",
)
def reset_password(user_id: Id4, body: PasswordIn, _: Admin, session: SessionDep) -> PasswordOut:
    user = service.get_user(session, user_id)
    return PasswordOut(password=service.reset_password(session, user, body.password))


def _ttl(body: TokenIn, settings: Settings) -> timedelta:
    return timedelta(days=body.ttl_days or settings.api_token_ttl_days)


@router.get("/users/{user_id}/tokens", response_model=list[TokenOut], summary="A user's tokens")
def user_tokens(user_id: Id4, _: Admin, session: SessionDep) -> list[TokenOut]:
    service.get_user(session, user_id)
    return [TokenOut.of(t) for t in service.list_tokens(session, user_id)]


@router.post(
    "/users/{user_id}/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a token for a user (e.g. an integration's); shown this once",
)
def issue_token(
    user_id: Id4, body: TokenIn, _: Admin, session: SessionDep, settings: SettingsDep
) -> TokenCreated:
    user = service.get_user(session, user_id)
    row, token = service.create_token(
        session, user, name=body.name, ttl=_ttl(body, settings), now=datetime.now(UTC)
    )
    return TokenCreated(**TokenOut.of(row).model_dump(), token=token)


def _own_user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise BadRequest("the bootstrap admin has no tokens of its own; add a user first")
    return principal.user_id


@router.get("/tokens", response_model=list[TokenOut], summary="The caller's own tokens")
def my_tokens(principal: Owner, session: SessionDep) -> list[TokenOut]:
    return [TokenOut.of(t) for t in service.list_tokens(session, _own_user_id(principal))]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a token acting as the caller, with the caller's role; shown this once",
)
def create_token(
    body: TokenIn, principal: Owner, session: SessionDep, settings: SettingsDep
) -> TokenCreated:
    user = service.get_user(session, _own_user_id(principal))
    row, token = service.create_token(
        session, user, name=body.name, ttl=_ttl(body, settings), now=datetime.now(UTC)
    )
    return TokenCreated(**TokenOut.of(row).model_dump(), token=token)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a token: one's own, or anyone's for an admin",
)
def revoke_token(token_id: Id4, principal: Owner, session: SessionDep) -> None:
    owner = None if principal.can(Perm.USERS_MANAGE) else _own_user_id(principal)
    service.revoke_token(session, token_id, now=datetime.now(UTC), owner=owner)


@router.get("/audit", response_model=list[AuditOut], summary="The audit log, newest first")
def list_audit(
    _: Annotated[Principal, require(Perm.AUDIT_READ)],
    session: SessionDep,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AuditOut]:
    found = audit.list_entries(
        session,
        object_type=object_type,
        object_id=object_id,
        actor=actor,
        limit=limit,
        offset=offset,
    )
    return [AuditOut.model_validate(e) for e in found]
