"""Jinja templates (package data under ``nvr/web/templates``) and page helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

from nvr import __version__
from nvr.web.guard import CSRF_COOKIE
from nvr.web.plain_errors import plain_error

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
TEMPLATES.env.globals["plain"] = plain_error  # errors in words (templates/_errors.html)
MAX_NEXT = 2000


def safe_next(target: str | None) -> str:
    """A same-site path to go to after login; anything else becomes ``/``."""
    if (not target or len(target) > MAX_NEXT or not target.startswith("/")
            or target.startswith(("//", "/\\")) or not target.isprintable()):
        return "/"
    return target


def render(request: Request, name: str, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> Response:
    context.setdefault("version", __version__)
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status,
                                      headers=headers)


def set_cookie(response: Response, request: Request, key: str, value: str, *,
               http_only: bool, same_site: str, max_age: int | None = None) -> None:
    response.set_cookie(key, value, max_age=max_age, path="/", httponly=http_only,
                        samesite=same_site,  # type: ignore[arg-type]
                        secure=request.url.scheme == "https")


def set_csrf_cookie(response: Response, request: Request, token: str) -> None:
    """The CSRF token scripts copy into ``X-CSRF-Token``: readable, SameSite=Strict."""
    set_cookie(response, request, CSRF_COOKIE, token, http_only=False, same_site="strict")
