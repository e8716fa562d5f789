from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.access.models import ApiToken, User
from app.access.policy import Principal, Role
from app.params import Flag, Id4


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    role: Role
    display_name: str = Field(default="", max_length=128)
    password: str | None = Field(default=None, max_length=256, description="none: tokens only")
    zones: list[str] = Field(default=[], max_length=20, description="zone officers: zone names")
    contact_id: Id4 | None = Field(default=None, description="river chiefs: their contact")


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    zones: list[str] | None = Field(default=None, max_length=20)
    contact_id: Id4 | None = None
    active: Flag | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(
        default=None, max_length=256, description="none: a generated one, answered once"
    )


class PasswordOut(BaseModel):
    password: str = Field(description="shown this once")


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    zones: list[str]
    contact_id: int | None
    active: bool
    locked_until: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=Role(user.role),
            zones=[z.name for z in user.zones],
            contact_id=user.contact_id,
            active=user.active,
            locked_until=user.locked_until,
            created_at=user.created_at,
        )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    ttl_days: float | None = Field(
        default=None, gt=0, le=3660, description="default RIVERWATCH_API_TOKEN_TTL_DAYS"
    )


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenOut:
        return cls.model_validate(row)


class TokenCreated(TokenOut):
    token: str = Field(description="the bearer token, shown this once")


class MeOut(BaseModel):
    username: str
    role: Role
    via: str
    user_id: int | None
    sections: list[str] | None = Field(description="codes in reach; null: all")

    @classmethod
    def of(cls, principal: Principal, codes: frozenset[str] | None) -> MeOut:
        assert principal.role is not None
        return cls(
            username=principal.username,
            role=principal.role,
            via=principal.via,
            user_id=principal.user_id,
            sections=sorted(codes) if codes is not None else None,
        )


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    actor_user_id: int | None
    via: str
    ip: str | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
