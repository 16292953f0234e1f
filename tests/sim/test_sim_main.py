"""`nvr sim` command line."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from nvr.sim.main import build_parser, main


def test_parse_sim_flags_all_options():
    args = build_parser().parse_args(
        "--cameras 3 --host 0.0.0.0 --port 9000 --codec h265 --width 640 --height 360 "
        "--fps 15 --bitrate 1500 --audio --user u --password p --auth both".split()
    )
    assert (args.cameras, args.host, args.port, args.codec) == (3, "0.0.0.0", 9000, "h265")
    assert (args.width, args.height, args.fps, args.bitrate) == (640, 360, 15, 1500)
    assert args.audio and (args.user, args.password, args.auth) == ("u", "p", "both")


def test_parse_sim_gop_and_b_frame_flags():
    args = build_parser().parse_args("--codec h265 --gop 3 --bframes 3 --open-gop".split())
    assert (args.gop, args.bframes, args.open_gop) == (3, 3, True)
    assert build_parser().parse_args([]).open_gop is False


@pytest.mark.parametrize("argv", [["--open-gop"], ["--gop", "0"], ["--bframes", "-1"]])
def test_main_impossible_gop_flags_exit_with_usage_error(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_main_odd_width_exits_with_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["--width", "321"])
    assert exc.value.code == 2


async def test_run_sim_prints_urls_and_stops_on_sigterm():
    code = "import sys; from nvr.sim.main import main; sys.exit(main(sys.argv[1:]))"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, "--cameras", "2", "--port", "0", "--width", "160",
        "--height", "120", "--bitrate", "200", "--user", "admin", "--password", "pw",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(2)]
        assert lines[0].startswith("rtsp://admin@127.0.0.1:") and lines[0].endswith("/cam1\n")
        assert lines[1].endswith("/cam2\n") and "pw" not in "".join(lines)
        port = int(lines[0].split(":")[2].split("/")[0])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"DESCRIBE rtsp://127.0.0.1:{port}/cam2 RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        status = await reader.readline()
        assert status.startswith(b"RTSP/1.0 401")
        writer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
