"""RTSP authentication of the simulated camera: Basic and Digest (RFC 2617).

A camera demands credentials when its `SimCamera.password` is set. It offers
Digest (with ``qop="auth"``, and accepts answers with or without qop), Basic,
or both, as `SimCamera.auth` says. Nonces are issued per challenge and stay
valid for the server's lifetime (old ones are forgotten when there are many).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time

__all__ = [
    "AUTH_SCHEMES",
    "Nonces",
    "authorized",
    "challenges",
    "digest_response",
    "parse_auth_params",
]

AUTH_SCHEMES = ("basic", "digest", "both")

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def parse_auth_params(text: str) -> dict[str, str]:
    """The key=value / key="value" pairs of a WWW-Authenticate or Authorization value."""
    return {m[1].lower(): m[2] if m[2] is not None else m[3] for m in _PARAM.finditer(text)}


def digest_response(
    user: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The RFC 2617 Digest `response` value (MD5), with or without qop."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


class Nonces:
    """The Digest nonces a server has handed out."""

    def __init__(self) -> None:
        self._issued: dict[str, float] = {}

    def new(self) -> str:
        now = time.monotonic()
        if len(self._issued) > 10000:
            self._issued = {n: t for n, t in self._issued.items() if now - t < 300}
        nonce = secrets.token_hex(16)
        self._issued[nonce] = now
        return nonce

    def __contains__(self, nonce: object) -> bool:
        return nonce in self._issued


def challenges(scheme: str, realm: str, nonces: Nonces) -> list[tuple[str, str]]:
    """The WWW-Authenticate headers of a 401 for a camera with `auth=scheme`."""
    out = []
    if scheme in ("digest", "both"):
        nonce = nonces.new()
        out.append(("WWW-Authenticate", f'Digest realm="{realm}", nonce="{nonce}", qop="auth"'))
    if scheme in ("basic", "both"):
        out.append(("WWW-Authenticate", f'Basic realm="{realm}"'))
    return out


def authorized(
    header: str,
    method: str,
    user: str | None,
    password: str | None,
    scheme: str,
    realm: str,
    nonces: Nonces,
) -> bool:
    """Whether an Authorization header value answers the camera's challenge."""
    if password is None:
        return True
    user = user or ""
    given, _, rest = header.partition(" ")
    given = given.lower()
    if given == "basic" and scheme in ("basic", "both"):
        try:
            decoded = base64.b64decode(rest.strip()).decode()
        except ValueError:
            return False
        return secrets.compare_digest(decoded, f"{user}:{password}")
    if given == "digest" and scheme in ("digest", "both"):
        p = parse_auth_params(rest)
        if p.get("username") != user or p.get("realm") != realm:
            return False
        if p.get("nonce") not in nonces:
            return False
        expected = digest_response(
            user,
            realm,
            password,
            method,
            p.get("uri", ""),
            p.get("nonce", ""),
            p.get("qop"),
            p.get("nc", ""),
            p.get("cnonce", ""),
        )
        return secrets.compare_digest(expected, p.get("response", "").lower())
    return False
