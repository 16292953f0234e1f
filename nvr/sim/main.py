"""`nvr sim`: run simulated cameras cam1..camN until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from nvr.sim.scenes import PATTERN, scene_names
from nvr.sim.server import SimCamera, SimServer


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nvr sim", description="Serve simulated RTSP cameras (rtsp://host:port/camN)."
    )
    p.add_argument("--cameras", type=int, default=1, help="number of cameras (cam1..camN)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8554, help="RTSP port (0: any free port)")
    p.add_argument("--codec", choices=["h264", "h265"], default="h264")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--bitrate", type=int, default=4000, help="video bitrate in kbit/s")
    p.add_argument("--gop", type=int, default=2, help="seconds between keyframes")
    p.add_argument("--bframes", type=int, default=0, help="B-frames between references")
    p.add_argument(
        "--open-gop", action="store_true", help="H.265: CRA keyframes with leading pictures"
    )
    p.add_argument("--audio", action="store_true", help="add an AAC track (sine tone)")
    p.add_argument("--audio-rate", type=int, choices=[16000, 48000], default=48000)
    p.add_argument(
        "--scene", choices=scene_names(), default=PATTERN,
        help="what the cameras show: the test pattern or a scripted motion scene "
        "(nvr.sim.scenes; times count from each session's PLAY)",
    )
    p.add_argument("--user", default=None, help="user name cameras demand")
    p.add_argument("--password", default=None, help="password cameras demand")
    p.add_argument("--auth", choices=["basic", "digest", "both"], default="digest")
    p.add_argument("--no-udp", action="store_true", help="offer RTP over TCP only")
    return p


async def _serve(args: argparse.Namespace) -> None:
    cameras = [
        SimCamera(
            name=f"cam{i}",
            codec=args.codec,
            width=args.width,
            height=args.height,
            fps=args.fps,
            bitrate_kbps=args.bitrate,
            gop_seconds=args.gop,
            bframes=args.bframes,
            open_gop=args.open_gop,
            audio=args.audio,
            audio_rate=args.audio_rate,
            user=args.user if args.password is not None else None,
            password=args.password,
            auth=args.auth,
            scene=args.scene,
        )
        for i in range(1, args.cameras + 1)
    ]
    server = SimServer(args.host, args.port, cameras, udp=not args.no_udp)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        for cam in cameras:
            print(
                server.url(cam.name, args.user if args.password is not None else None), flush=True
            )
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cameras < 1:
        build_parser().error("--cameras must be at least 1")
    if args.width % 2 or args.height % 2 or args.width < 16 or args.height < 16:
        build_parser().error("--width and --height must be even and at least 16")
    if args.gop < 1 or args.bframes < 0:
        build_parser().error("--gop must be at least 1 and --bframes at least 0")
    if args.open_gop and args.codec != "h265":
        build_parser().error("--open-gop needs --codec h265")
    try:
        SimCamera("cam1", gop_seconds=args.gop, scene=args.scene).check()
    except ValueError as exc:
        build_parser().error(str(exc).removeprefix("camera cam1: "))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
