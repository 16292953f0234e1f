"""Camera and network errors as sentences a person can act on.

The recorder's and the alert targets' errors are written for logs ("camera
garage: cannot connect to 10.0.0.5:554: [Errno 111] Connect call failed
('10.0.0.5', 554)"); a page says what went wrong in plain words and keeps the
log line in the tooltip. The rules live in one file,
``static/js/plain_errors.json``, which the browser's ``errors.js`` reads too, so
server-rendered pages and live tiles say the same. Unknown errors pass through.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

__all__ = ["plain_error"]

RULES_FILE = Path(__file__).resolve().parent / "static" / "js" / "plain_errors.json"
_CAMERA_PREFIX = re.compile(r"^camera [^:]+: ")
_TARGET = re.compile(r"connect to ([^\s:]+:\d+)")


@functools.cache
def _rules() -> list[tuple[re.Pattern[str], str]]:
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return [(re.compile(pattern, re.IGNORECASE), say) for pattern, say in data["rules"]]


def plain_error(text: str | None) -> str:
    """The sentence for ``text`` (without a leading "camera <name>: "), or the text."""
    if not text:
        return ""
    raw = _CAMERA_PREFIX.sub("", str(text), count=1)
    target = _TARGET.search(raw)
    where = f" at {target.group(1)}" if target else ""
    for pattern, say in _rules():
        if pattern.search(raw):
            return say.replace("{where}", where)
    return raw
