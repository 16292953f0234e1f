"""Who is asking: the user behind a request and how they proved it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SESSION = "session"
BASIC = "basic"
TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: str
    cameras: tuple[str, ...]  # a viewer's cameras; empty: every camera
    method: str  # SESSION, BASIC or TOKEN
    session: str | None = None  # the session's id hash (SESSION only)
    csrf: str | None = None  # the session's CSRF token (SESSION only)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, camera: str) -> bool:
        """A camera outside a viewer's list does not exist for them."""
        return self.is_admin or not self.cameras or camera in self.cameras

    def visible(self, cameras: Iterable[str]) -> list[str]:
        return [c for c in cameras if self.may_see(c)]
