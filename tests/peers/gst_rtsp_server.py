#!/usr/bin/python3
"""A real IP camera for tests: a GStreamer RTSP server (GstRtspServer).

Run it with the *system* python3 (which has ``gi`` and GstRtspServer 1.0), not the
project venv::

    /usr/bin/python3 tests/peers/gst_rtsp_server.py --port 0 --codec h264 --audio \
        --user admin --password secret --auth digest

Each mount serves a live videotestsrc encoded with x264enc (``--codec h264``) or
x265enc (``--codec h265``), payloaded with rtph264pay / rtph265pay (pt 96) and, with
``--audio``, an audiotestsrc tone encoded as AAC and payloaded as mpeg4-generic
(rtpmp4gpay, pt 97), which is what IP cameras send. TCP interleaved and UDP
transports both work.

When the server listens it prints exactly one line per mount to stdout::

    READY rtsp://127.0.0.1:<port>/<mount>

and it exits with status 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ROLE = "user"


def _first_available(names: list[str]) -> str | None:
    for name in names:
        if Gst.ElementFactory.find(name) is not None:
            return name
    return None


def build_launch(args: argparse.Namespace) -> str:
    """The gst-launch style description of one mount's media."""
    caps = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    video = f"videotestsrc is-live=true pattern={args.pattern} ! {caps} "
    # timeoverlay lives in gstreamer1.0-x (pango), which a minimal install may lack.
    if Gst.ElementFactory.find("timeoverlay") is not None:
        video += f'! timeoverlay font-desc="Sans {max(8, args.height // 16)}" '
    video += "! videoconvert "
    if args.codec == "h264":
        video += (
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.gop} "
            f"bframes=0 bitrate={args.bitrate} "
            f"sliced-threads={'true' if args.sliced_threads else 'false'} "
            "! video/x-h264,profile=baseline "
            "! rtph264pay name=pay0 pt=96 config-interval=-1"
        )
    else:
        video += (
            f"! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={args.gop} "
            f"bitrate={args.bitrate} option-string=bframes=0 "
            "! video/x-h265,profile=main "
            "! rtph265pay name=pay0 pt=96 config-interval=-1"
        )
    parts = [video]
    if args.audio:
        aac = _first_available(["avenc_aac", "voaacenc", "fdkaacenc", "faac"])
        if aac is None:
            raise SystemExit("no AAC encoder (avenc_aac, voaacenc, fdkaacenc, faac) installed")
        parts.append(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.2 "
            f"! audioconvert ! audioresample ! audio/x-raw,rate={args.audio_rate},channels=1 "
            f"! {aac} ! aacparse ! rtpmp4gpay name=pay1 pt=97"
        )
    return "( " + " ".join(parts) + " )"


def make_auth(args: argparse.Namespace) -> GstRtspServer.RTSPAuth:
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", ROLE)
    if args.auth == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(args.user, args.password, token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
    auth.set_realm(args.realm)
    return auth


def make_factory(args: argparse.Namespace, authed: bool) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(build_launch(args))
    factory.set_shared(True)
    factory.set_latency(0)
    if authed:
        perms = Gst.Structure.new_from_string(
            f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(perms)
    return factory


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--mount", action="append", help="mount point (repeatable), default /stream")
    p.add_argument("--codec", choices=["h264", "h265"], default="h264")
    p.add_argument("--audio", action="store_true", help="add an AAC (mpeg4-generic) track")
    p.add_argument("--audio-rate", type=int, default=16000)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=50, help="key-int-max, frames")
    p.add_argument("--bitrate", type=int, default=500, help="kbit/s")
    p.add_argument(
        "--sliced-threads",
        action="store_true",
        help="h264: several slices per frame (x264 sliced threads), as some cameras send",
    )
    p.add_argument("--pattern", default="ball", help="videotestsrc pattern")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--auth", choices=["digest", "basic"], default="digest")
    p.add_argument("--realm", default="nvr-test-camera")
    args = p.parse_args(argv)
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    mounts = args.mount or ["/stream"]
    args.mount = ["/" + m.lstrip("/") for m in mounts]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    loop = GLib.MainLoop()

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    authed = args.user is not None
    if authed:
        server.set_auth(make_auth(args))
    mounts = server.get_mount_points()
    for mount in args.mount:
        mounts.add_factory(mount, make_factory(args, authed))

    if server.attach(None) == 0:
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 1
    port = server.get_bound_port()

    # Free clients whose session timed out, so a long run does not leak.
    def cleanup() -> bool:
        server.get_session_pool().cleanup()
        return True

    GLib.timeout_add_seconds(2, cleanup)

    def stop() -> bool:
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, stop)

    for mount in args.mount:
        print(f"READY rtsp://{args.host}:{port}{mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
