"""Personal access tokens: how they look, how they are kept (only a SHA-256 of each), and their SQL.

A token is `todo_pat_` and 43 URL-safe characters from `secrets` (256 bits), so a leaked one is easy to spot in a
log or a repository, and far too long to guess. The database holds its SHA-256 only: with that much entropy a
fast hash is as safe as a slow one, and a lookup by hash costs one index probe.
"""

import datetime as dt
import hashlib
import secrets
import uuid

from sqlalchemy import bindparam, func, insert, or_, select, update

from contract.schemas import AccessTokenOut, NewAccessToken
from mcp_server.db import Connection
from mcp_server.errors import NotFound
from mcp_server.models import PersonalToken
from mcp_server.store import Query, Row

PREFIX = "todo_pat_"
LAST_USED_EVERY = dt.timedelta(minutes=1)  # last_used_at is written at most this often per token


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_personal(token: str) -> bool:
    return token.startswith(PREFIX)


def token_not_found(token_id: uuid.UUID) -> NotFound:
    return NotFound(f"Access token {token_id} does not exist (or was revoked already). Call list_access_tokens.")


COLUMNS = (
    PersonalToken.id,
    PersonalToken.name,
    PersonalToken.created_at,
    PersonalToken.expires_at,
    PersonalToken.last_used_at,
)
ACTIVE = (
    PersonalToken.revoked_at.is_(None),
    or_(PersonalToken.expires_at.is_(None), PersonalToken.expires_at > func.now()),
)

CREATE = Query(
    insert(PersonalToken)
    .values(
        id=bindparam("token_id"),
        user_id=bindparam("user_id"),
        name=bindparam("name"),
        token_hash=bindparam("token_hash"),
        expires_at=bindparam("expires_at"),
    )
    .returning(*COLUMNS)
)
LIST = Query(
    select(*COLUMNS)
    .where(PersonalToken.user_id == bindparam("user_id"), *ACTIVE)
    .order_by(PersonalToken.created_at.desc(), PersonalToken.id)
)
REVOKE = Query(
    update(PersonalToken)
    .where(PersonalToken.id == bindparam("token_id"), PersonalToken.user_id == bindparam("user_id"), *ACTIVE)
    .values(revoked_at=func.now())
    .returning(PersonalToken.token_hash)
)
# The owner of an active token; expired and revoked tokens find nothing.
OWNER = Query(
    select(PersonalToken.id, PersonalToken.user_id, PersonalToken.expires_at, PersonalToken.last_used_at).where(
        PersonalToken.token_hash == bindparam("token_hash"), *ACTIVE
    )
)
TOUCH = Query(update(PersonalToken).where(PersonalToken.id == bindparam("token_id")).values(last_used_at=func.now()))


def token_out(row: Row) -> AccessTokenOut:
    return AccessTokenOut(
        token_id=row.id,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


async def create(conn: Connection, user_id: str, name: str, expires_in_days: int | None) -> NewAccessToken:
    token = new_token()
    expires_at = None
    if expires_in_days is not None:
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=expires_in_days)
    created = await CREATE.run(
        conn,
        token_id=uuid.uuid4(),
        user_id=user_id,
        name=name,
        token_hash=token_hash(token),
        expires_at=expires_at,
    )
    row = created.one()
    return NewAccessToken(**token_out(row).model_dump(), token=token)


async def list_active(conn: Connection, user_id: str) -> list[AccessTokenOut]:
    return [token_out(row) for row in (await LIST.run(conn, user_id=user_id)).all()]


async def revoke(conn: Connection, user_id: str, token_id: uuid.UUID) -> str:
    """Revoke one of the user's active tokens; returns its hash (so this process forgets it at once)."""
    row = (await REVOKE.run(conn, token_id=token_id, user_id=user_id)).first()
    if row is None:
        raise token_not_found(token_id)
    return row.token_hash


async def owner(conn: Connection, hashed: str) -> Row | None:
    """The active token with this hash (id, user_id, expires_at), noting that it was used."""
    row = (await OWNER.run(conn, token_hash=hashed)).first()
    if row is not None and (row.last_used_at is None or row.last_used_at < dt.datetime.now(dt.UTC) - LAST_USED_EVERY):
        await TOUCH.run(conn, token_id=row.id)
    return row
