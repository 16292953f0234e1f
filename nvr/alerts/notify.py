"""Phone and chat notifications through Apprise, for the outbox worker.

A ``[[notify]]`` row in the outbox carries the same JSON body as a webhook
delivery; :func:`message` turns it into a title and a short text a person reads
on a lock screen ("Motion on front", "Motion on front (zones: door) at
04:12:05 UTC"). :class:`AppriseSender` sends it to every URL of the entry with
the event's snapshot attached when there is one.

Apprise is synchronous (``requests`` underneath) and may block for its whole
timeout on a dead service, so sends run on the sender's own thread pool (one
thread per notification that may be in flight), not the default executor that
database work shares: a hung chat service cannot starve recording or the other
targets of threads.

Secrets: an Apprise URL holds its token in it, so neither the URL nor Apprise's
own log lines (which can name it) leave this module unscrubbed. Apprise's logger
does not propagate (:func:`nvr.config.notify.quiet_apprise`); a failure's text is
the service's name and Apprise's warning with every piece of the URLs replaced
by ``***``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from nvr.config.notify import NotifyConfig, quiet_apprise

__all__ = ["AppriseSender", "message", "scrub"]

_LABELS = {
    "motion": "Motion", "camera_offline": "Camera offline",
    "camera_online": "Camera back online", "recording_gap": "Recording gap",
    "disk_low": "Disk space low", "rtmp_publish_start": "Stream published",
    "rtmp_publish_stop": "Stream stopped",
}  # fmt: skip
_URL_PIECES = re.compile(r"[:/@?&=#;,+]+")


def _clock_text(iso: str | None) -> str:
    """An ISO time from the body as the server's local wall clock, with its zone."""
    if not iso:
        return ""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    return when.strftime("%H:%M:%S %Z").strip()


def message(body: dict[str, Any]) -> tuple[str, str]:
    """``(title, text)`` for one delivery body (schema version 1)."""
    label = _LABELS.get(body.get("type", ""), str(body.get("type", "Event")))
    camera = body.get("camera") or ""
    title = f"{label} on {camera}" if camera else label
    zones = body.get("zones") or []
    where = f" (zones: {', '.join(zones)})" if zones else ""
    if body.get("phase") == "end":
        title += " ended"
        text = f"{title}{where}"
        start, end = body.get("start"), body.get("end")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            text += f" after {seconds:.0f} s"
    else:
        text = f"{title}{where} at {_clock_text(body.get('start'))}"
    if body.get("score") is not None and body.get("type") == "motion":
        text += f", score {body['score']:.2f}"
    links = [u for u in (body.get("clip_url"), body.get("snapshot_url")) if u]
    if links:
        text += "\n" + links[0]
    return title, text


def scrub(text: str, urls: list[str]) -> str:
    """``text`` with every piece of ``urls`` (host, user, token, path, query value)
    that is 3 characters or longer replaced by ``***``; the schemes are kept."""
    pieces: set[str] = set()
    for url in urls:
        _, _, rest = url.partition("://")
        pieces.update(p for p in _URL_PIECES.split(rest) if len(p) >= 3)
        if rest:
            pieces.add(rest)
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


class AppriseSender:
    """Sends notifications on its own threads; ``close`` when done."""

    def __init__(self, threads: int = 4, timeout: float = 30.0) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="apprise")
        self._timeout = timeout

    async def send(self, entry: NotifyConfig, title: str, text: str,
                   attachment: Path | None) -> str | None:
        """``None`` when every URL took it, else the error in one line (scrubbed)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self._send, entry.urls, title, text,
                                      attachment)
        try:
            return await asyncio.wait_for(future, self._timeout + 5)
        except TimeoutError:
            return "timed out"

    def close(self) -> None:
        """Stop taking work; a send still blocked in Apprise finishes on its own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _send(self, urls: list[str], title: str, text: str,
              attachment: Path | None) -> str | None:
        import apprise  # imported only where notifications are configured

        quiet_apprise()
        sender = apprise.Apprise()
        for url in urls:
            if not sender.add(url):
                return "an Apprise URL was refused (check the config)"
        attach = None
        if attachment is not None and attachment.is_file():
            attach = apprise.AppriseAttachment(str(attachment))
        try:
            with sender.notify(body=text, title=title, attach=attach,
                               timeout=self._timeout) as result:
                if result:
                    return None
                failed = [r for r in result.results if not r]
                names = ", ".join(dict.fromkeys(r.name for r in failed)) or "Apprise"
                detail = [e.message for e in result.logs()
                          if e.level in ("WARNING", "ERROR", "CRITICAL")]
                error = f"{names}: {detail[-1] if detail else 'not delivered'}"
                if len(failed) < len(urls):
                    error = f"{len(failed)} of {len(urls)} URLs failed; {error}"
        except Exception as exc:  # noqa: BLE001 - a plugin's bug is this target's failure
            error = f"{type(exc).__name__}: {exc}"
        return scrub(error, urls)[:500]
