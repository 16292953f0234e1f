"""Accounts on SQLite and PostgreSQL: the first start, the stores, a whole login."""

from __future__ import annotations

import logging

import pytest
from authkit import FAST_HASHER, PASSWORDS, basic, make_site

from nvr.auth import passwords
from nvr.auth.accounts import Accounts, Conflict, NotFound
from nvr.auth.audit import AuditLog
from nvr.auth.bootstrap import ensure_admin
from nvr.db.session import make_engine, make_sessionmaker, upgrade


@pytest.fixture
def stores(db_url):
    passwords.use_hasher(FAST_HASHER)
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    yield Accounts(sessions), AuditLog(sessions)
    engine.dispose()


def test_first_start_uses_the_env_password_then_leaves_users_alone(stores):
    accounts, audit = stores
    assert ensure_admin(accounts, audit, "from-the-env-1", 5) is True
    admin = accounts.user("admin")
    assert admin is not None and admin.role == "admin"
    assert admin.password_hash.startswith("$argon2id$")
    assert passwords.verify_password(admin.password_hash, "from-the-env-1")
    assert ensure_admin(accounts, audit, "something-else", 6) is False
    assert passwords.verify_password(accounts.user("admin").password_hash, "from-the-env-1")
    assert [e.action for e in audit.query()] == ["user_add"]


def test_first_start_without_env_prints_a_generated_password_once(stores, capsys, caplog):
    accounts, audit = stores
    caplog.set_level(logging.INFO)
    assert ensure_admin(accounts, audit, None, 5, "/etc/nvr/config.toml") is True
    printed = capsys.readouterr().err
    password = next(line.strip() for line in printed.splitlines()
                    if line.strip() and " " not in line.strip())
    assert len(password) >= 20
    assert passwords.verify_password(accounts.user("admin").password_hash, password)
    assert "nvr user passwd admin --config /etc/nvr/config.toml" in printed
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "generated password" in logged and password not in logged
    ensure_admin(accounts, audit, None, 6)
    assert capsys.readouterr().err == ""


def test_store_rules_on_both_databases(stores):
    accounts, _ = stores
    accounts.add_user("admin", "admin-pass-1", "admin", (), 1)
    accounts.add_user("v", "viewer-pass-1", "viewer", ("a", "b", "a"), 1)
    assert accounts.user("v").cameras == ("a", "b")
    with pytest.raises(Conflict):
        accounts.add_user("v", "viewer-pass-1", "viewer", (), 1)
    token, info = accounts.create_token("v", "label", 10, None)
    with pytest.raises(Conflict):
        accounts.create_token("admin", "label", 10, None)
    assert [t.name for t in accounts.tokens("v")] == ["label"]
    with pytest.raises(Conflict):
        accounts.remove_user("admin")
    accounts.remove_user("v")  # takes its tokens with it
    assert accounts.tokens() == []
    with pytest.raises(NotFound):
        accounts.revoke_token("label")


def test_login_session_and_token_on_both_databases(tmp_path, db_url):
    site = make_site(tmp_path, db_url)
    browser = site.login("viewer1")
    assert browser.get("/api/me").json()["auth"] == "session"
    token = browser.post("/api/tokens", headers=site.csrf(browser), json={"name": "t"}
                         ).json()["token"]
    assert site.client().get("/api/me", headers={"Authorization": f"Bearer {token}"}
                             ).json()["username"] == "viewer1"
    admin = site.client(headers=basic("admin", PASSWORDS["admin"]))
    assert admin.patch("/api/users/viewer1", json={"disabled": True}).status_code == 200
    assert browser.get("/api/me").status_code == 401
    assert [u["username"] for u in admin.get("/api/users").json()] == [
        "admin", "viewer1", "viewerall"]
