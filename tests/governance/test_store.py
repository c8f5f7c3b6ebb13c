"""Users, passwords, tokens and sessions in the database (S11, S13): what a user would see."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.governance import passwords
from mlstage.governance.sql_store import GovernanceStore
from tests.governance.conftest import Clock

PASSWORD = "correct horse battery"
DAY = 86_400_000


def test_a_user_is_created_with_a_role_and_signs_in(gov: GovernanceStore) -> None:
    user = gov.create_user("ada", "admin", PASSWORD)
    assert (user.name, user.role, user.disabled, user.has_password) == ("ada", "admin", False, True)
    identity = gov.check_login("ada", PASSWORD)
    assert identity is not None and (identity.name, identity.role) == ("ada", "admin")
    assert gov.check_login("ada", PASSWORD + "x") is None
    assert gov.check_login("nobody", PASSWORD) is None
    assert [u.name for u in gov.list_users()] == ["ada"]


def test_no_listing_carries_a_hash_and_the_database_holds_only_salted_hashes(
    gov: GovernanceStore,
) -> None:
    gov.create_user("ada", "admin", PASSWORD)
    gov.create_user("bob", "viewer", PASSWORD)
    created = gov.create_token("ada", "admin", DAY)
    shown = [u.model_dump_json() for u in gov.list_users()] + [
        t.model_dump_json() for t in gov.list_tokens()
    ]
    assert not any("scrypt" in s or created.secret in s or PASSWORD in s for s in shown)
    with gov.db.read() as conn:
        hashes = [r[0] for r in conn.execute(text("SELECT password_hash FROM users"))]
        dump = repr(list(conn.execute(text("SELECT * FROM users")))) + repr(
            list(conn.execute(text("SELECT * FROM api_tokens")))
        )
    assert all(h.startswith("scrypt$16384$8$1$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted: the same password hashes differently
    assert PASSWORD not in dump and created.secret not in dump


@pytest.mark.parametrize("weak", ["", "a", "password", "elevenchars", "x" * 1025])
def test_weak_or_absurd_passwords_are_refused(gov: GovernanceStore, weak: str) -> None:
    with pytest.raises(InvalidInput, match="password"):
        gov.create_user("ada", "admin", weak)
    assert gov.list_users() == []


def test_names_roles_and_duplicates_are_checked(gov: GovernanceStore) -> None:
    with pytest.raises(InvalidInput, match="role 'root' does not exist"):
        gov.create_user("ada", "root", PASSWORD)
    with pytest.raises(InvalidInput, match="user name"):
        gov.create_user("<script>", "viewer", PASSWORD)
    gov.create_user("ada", "viewer", None)
    with pytest.raises(Conflict, match="user 'ada' exists already"):
        gov.create_user("ada", "admin", PASSWORD)
    with pytest.raises(NotFound, match="user 'zed' does not exist"):
        gov.update_user("zed", disabled=True)


def test_a_disabled_user_can_neither_sign_in_nor_use_tokens_nor_sessions(
    gov: GovernanceStore,
) -> None:
    gov.create_user("ada", "maintainer", PASSWORD)
    secret = gov.create_token("ada", "write", DAY).secret
    identity = gov.check_login("ada", PASSWORD)
    assert identity is not None
    cookie, _ = gov.create_session(identity)
    gov.update_user("ada", disabled=True)
    assert gov.check_login("ada", PASSWORD) is None
    assert gov.identify_token(secret) is None
    assert gov.identify_session(cookie) is None
    gov.update_user("ada", disabled=False)
    assert gov.identify_token(secret) is not None
    assert gov.identify_session(cookie) is None  # sessions end on any change


def test_tokens_expire_revoke_and_never_exceed_the_role(gov: GovernanceStore, clock: Clock) -> None:
    gov.create_user("carl", "contributor", None)
    with pytest.raises(InvalidInput, match="exceeds the role of user 'carl'.*'write'"):
        gov.create_token("carl", "admin", DAY)
    created = gov.create_token("carl", "write", DAY, "ci")
    assert created.secret.startswith("mls_") and len(created.secret) == 47
    identity = gov.identify_token(created.secret)
    assert identity is not None and (identity.role, identity.scope) == ("contributor", "write")
    clock.advance(DAY)
    assert gov.identify_token(created.secret) is None  # expired
    fresh = gov.create_token("carl", "read", DAY)
    revoked = gov.revoke_token(fresh.token.token_id)
    assert revoked.revoked_at == clock.now
    assert gov.identify_token(fresh.secret) is None
    assert gov.revoke_token(fresh.token.token_id).revoked_at == clock.now  # idempotent
    for bad in ("", "mls_", "mls_" + "A" * 43, "Bearer x", "eyJhbGciOiJub25lIn0.e30."):
        assert gov.identify_token(bad) is None


def test_a_lowered_role_caps_existing_tokens_at_once(gov: GovernanceStore) -> None:
    gov.create_user("ada", "admin", None)
    secret = gov.create_token("ada", "admin", DAY).secret
    gov.update_user("ada", role="viewer")
    identity = gov.identify_token(secret)
    assert identity is not None and identity.role == "viewer"


def test_every_change_is_in_the_audit_log_with_before_and_after(gov: GovernanceStore) -> None:
    gov.create_user("ada", "admin", PASSWORD, actor="cli:root", address="10.0.0.1")
    token = gov.create_token("ada", "read", DAY, actor="ada").token
    gov.revoke_token(token.token_id, actor="ada")
    gov.update_user("ada", role="viewer", actor="cli:root")
    entries = gov.audit_entries()
    assert [(e.actor, e.action, e.object_id) for e in entries] == [
        ("cli:root", "user.create", "ada"),
        ("ada", "token.create", token.token_id),
        ("ada", "token.revoke", token.token_id),
        ("cli:root", "user.update", "ada"),
    ]
    assert entries[0].address == "10.0.0.1"
    assert (entries[3].before["role"], entries[3].after["role"]) == ("admin", "viewer")
    assert [e.action for e in gov.audit_entries(action="token.")] == [
        "token.create",
        "token.revoke",
    ]
    assert [e.action for e in gov.audit_entries(actor="ada")] == ["token.create", "token.revoke"]
    assert gov.audit_entries(since=gov.clock() + 1) == []


def test_password_hashes_keep_their_parameters() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.verify_password(PASSWORD, "scrypt$1$1$1$bad$bad")
    assert not passwords.verify_password(PASSWORD, "plain")
    assert not passwords.verify_password(PASSWORD, None)
