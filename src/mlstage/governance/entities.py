"""What governance hands out: users, tokens, identities and audit entries, never a hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


class User(BaseModel):
    """A user as anyone may see it: no password hash, ever (S11)."""

    name: str
    role: str | None
    disabled: bool
    has_password: bool
    created_at: int
    updated_at: int


class TokenInfo(BaseModel):
    """A token's record; the secret exists only in ``NewToken`` at creation."""

    token_id: str
    user: str
    scope: str
    description: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None


class NewToken(BaseModel):
    """A token just created: ``secret`` is shown this once and stored only as a hash."""

    token: TokenInfo
    secret: str


class AuditEntry(BaseModel):
    entry_id: int
    at: int
    actor: str
    action: str
    object_type: str
    object_id: str
    before: Any = None
    after: Any = None
    address: str


@dataclass(frozen=True)
class Identity:
    """Who a credential belongs to, and with which role it acts."""

    user_id: int
    name: str
    role: str | None
    scope: str | None = None
    token_id: str | None = None
    csrf_token: str | None = None
    grants: tuple[tuple[int, str], ...] = ()
    """(project id, role) of every project the user holds a role in."""


class Project(BaseModel):
    project_id: int
    name: str
    created_at: int


class Grant(BaseModel):
    user: str
    project: str
    role: str
