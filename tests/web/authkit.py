"""A web app on a real database with three accounts, for the auth tests.

Passwords are hashed with cheap argon2 parameters here (the production
parameters cost ~200 ms a check; see scripts/bench_auth.py).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from nvr.auth import passwords
from nvr.auth.accounts import Accounts
from nvr.auth.audit import AuditLog
from nvr.auth.authenticator import Authenticator, AuthSettings
from nvr.auth.sessions import SessionStore
from nvr.clock import SkippableClock
from nvr.db.session import make_engine, make_sessionmaker, upgrade
from nvr.recording.index import SegmentIndex
from nvr.web.app import create_app
from nvr.web.services import Services

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
BASE_URL = "http://nvr.test"
PASSWORDS = {"admin": "admin-pass-1", "viewer1": "viewer-pass-1", "viewerall": "viewer-pass-2"}
CAMERAS = ["cam1", "cam2"]


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


@dataclass
class Site:
    app: FastAPI
    auth: Authenticator
    accounts: Accounts
    services: Services
    clock: SkippableClock
    data_dir: Path
    clients: list[TestClient] = field(default_factory=list)

    def client(self, **kwargs: object) -> TestClient:
        kwargs.setdefault("base_url", BASE_URL)
        client = TestClient(self.app, **kwargs)  # type: ignore[arg-type]
        self.clients.append(client)
        return client

    def login(self, user: str, password: str | None = None,
              client: TestClient | None = None) -> TestClient:
        """A client with a browser session for ``user``."""
        client = client or self.client()
        token = form_token(client.get("/login").text)
        answer = client.post("/login", data={
            "username": user, "password": password or PASSWORDS[user], "csrf_token": token},
            follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return client

    @staticmethod
    def csrf(client: TestClient) -> dict[str, str]:
        return {"X-CSRF-Token": client.cookies.get("nvr_csrf") or ""}


def make_site(tmp_path: Path, db_url: str | None = None,
              settings: AuthSettings | None = None) -> Site:
    passwords.use_hasher(FAST_HASHER)
    url = db_url or f"sqlite:///{tmp_path / 'nvr.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    accounts = Accounts(sessions)
    accounts.add_user("admin", PASSWORDS["admin"], "admin", (), 1)
    accounts.add_user("viewer1", PASSWORDS["viewer1"], "viewer", ("cam1",), 1)
    accounts.add_user("viewerall", PASSWORDS["viewerall"], "viewer", (), 1)
    clock = SkippableClock()
    auth = Authenticator(accounts, SessionStore(sessions), AuditLog(sessions), settings, clock)
    services = Services(data_dir=tmp_path, index=SegmentIndex(sessions), auth=auth,
                        configured=list(CAMERAS), sessions=sessions)
    return Site(create_app(services), auth, accounts, services, clock, tmp_path)
