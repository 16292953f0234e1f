"""What is valid but worth a second look in a config: one line per problem.

A config that loads can still surprise: every camera disabled, nothing that
limits how much is recorded, passwords sent over plain HTTP. (One disabled camera
is a choice; the System page's cameras table shows it.) The System page
lists these (``nvr.web.system``); none of them stops nvr.
"""

from __future__ import annotations

from nvr.config.model import Config

__all__ = ["config_problems", "size_text"]

_LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


def size_text(n: float | None) -> str:
    """Bytes for people, in the config's decimal units: ``1.5 GB``, ``820 MB``."""
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.0f} PB"  # pragma: no cover - the loop returns at TB


def config_problems(config: Config) -> list[str]:
    """The config's warnings, most important first; empty when nothing stands out."""
    out: list[str] = []
    rec = config.recording
    server = config.server
    if server.http_host not in _LOCAL_HOSTS and not server.tls and not server.trusted_proxies:
        out.append(f"server: served over plain HTTP on {server.http}: passwords and video "
                   "cross the network unencrypted; set tls_cert and tls_key, or put nvr "
                   "behind a reverse proxy with HTTPS")
    if rec.retain_days is None and rec.max_bytes is None:
        if rec.min_free == 0:
            out.append("recording: no retain_days, no max_bytes and min_free = 0: recordings "
                       "are never deleted and will fill the disk")
        else:
            out.append("recording: no retain_days and no max_bytes: recordings are deleted "
                       f"only when the disk is down to min_free ({size_text(rec.min_free)})")
    elif rec.min_free == 0:
        out.append("recording: min_free = 0: nothing keeps the disk from filling up if "
                   "other files grow")
    if not config.cameras:
        out.append("cameras: none configured; add [[cameras]] to record")
    elif not any(cam.enabled for cam in config.cameras):
        out.append("cameras: every camera is disabled (enabled = false): nothing is recorded")
    for cam in config.cameras:
        if not cam.enabled:
            continue  # the cameras table says "Disabled": a choice, not a problem
        if cam.record == "off":
            out.append(f'camera {cam.name}: record = "off": live view only, nothing is '
                       "recorded")
        if cam.record == "events" and not cam.motion.enabled:
            out.append(f'camera {cam.name}: record = "events" without motion detection '
                       "([cameras.motion] enabled = false): only the last minute or so is "
                       "kept")
        if cam.max_bytes is not None and rec.max_bytes is not None and (
                cam.max_bytes > rec.max_bytes):
            out.append(f"camera {cam.name}: max_bytes ({size_text(cam.max_bytes)}) is above "
                       f"recording.max_bytes ({size_text(rec.max_bytes)}), which caps all "
                       "cameras together")
    rtmp = config.rtmp
    republished = [c.name for c in config.cameras if c.republish]
    if republished and not rtmp.enabled:
        out.append(f"rtmp: camera{'s' if len(republished) > 1 else ''} "
                   f"{', '.join(republished)} set republish but [rtmp] enabled is false: "
                   "nothing is served")
    if rtmp.enabled and rtmp.publish_key is None:
        out.append("rtmp: no publish_key: every publisher is refused (only republished "
                   "cameras are served)")
        for cam in config.cameras:
            for stream in cam.published_streams if cam.enabled else ():
                out.append(f"rtmp: camera {cam.name} records {stream}, but without "
                           "publish_key no encoder may publish it")
    if config.sim.cameras:
        out.append(f"sim: {config.sim.cameras} simulated camera"
                   f"{'s' if config.sim.cameras != 1 else ''} running (for testing)")
    return out
