"""The GStreamer RTSP camera peer, checked against ffmpeg (no nvr code involved)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from gst_peer import require_ffmpeg, start_gst_camera

pytestmark = pytest.mark.peer


async def run(*cmd: str, limit: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def pull(url: str, out: Path, transport: str = "tcp", seconds: float = 3) -> tuple[int, str]:
    rc, _, err = await run(
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-rtsp_transport",
        transport,
        "-i",
        url,
        "-t",
        str(seconds),
        "-c",
        "copy",
        "-y",
        str(out),
    )
    return rc, err


async def probe(path: Path) -> list[dict]:
    rc, out, err = await run(
        "ffprobe",
        "-v",
        "error",
        "-count_packets",
        "-show_entries",
        "stream=codec_type,codec_name,width,height,sample_rate,nb_read_packets",
        "-of",
        "json",
        str(path),
    )
    assert rc == 0, err
    return json.loads(out)["streams"]


def by_type(streams: list[dict]) -> dict[str, dict]:
    return {s["codec_type"]: s for s in streams}


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_h264_with_aac(tmp_path: Path, transport: str) -> None:
    require_ffmpeg()
    async with start_gst_camera(codec="h264", audio=True) as cam:
        assert urlsplit(cam.url).path == "/stream"
        rc, err = await pull(cam.url, tmp_path / "out.mp4", transport)
        assert rc == 0, err
    streams = by_type(await probe(tmp_path / "out.mp4"))
    assert streams["video"]["codec_name"] == "h264"
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    # 3 s at 25 fps; allow for the first GOP and jitter.
    assert int(streams["video"]["nb_read_packets"]) >= 50
    assert streams["audio"]["codec_name"] == "aac"
    assert int(streams["audio"]["nb_read_packets"]) > 0


async def test_h265(tmp_path: Path) -> None:
    require_ffmpeg()
    async with start_gst_camera(codec="h265", width=640, height=360) as cam:
        rc, err = await pull(cam.url, tmp_path / "out.mp4", "tcp")
        assert rc == 0, err
    streams = by_type(await probe(tmp_path / "out.mp4"))
    assert streams["video"]["codec_name"] == "hevc"
    assert (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
    assert "audio" not in streams


async def test_several_mounts(tmp_path: Path) -> None:
    require_ffmpeg()
    async with start_gst_camera(mounts=["/cam1", "/cam2"]) as cam:
        assert [urlsplit(u).path for u in cam.urls] == ["/cam1", "/cam2"]
        results = await asyncio.gather(
            pull(cam.urls[0], tmp_path / "1.mp4", seconds=2),
            pull(cam.urls[1], tmp_path / "2.mp4", seconds=2),
        )
        for rc, err in results:
            assert rc == 0, err


async def raw_describe(url: str) -> str:
    """Send one unauthenticated DESCRIBE and return the response head."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(
            f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        return head.decode(errors="replace")
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("auth", ["digest", "basic"])
async def test_auth(tmp_path: Path, auth: str) -> None:
    require_ffmpeg()
    async with start_gst_camera(user="admin", password="s3cret", auth=auth) as cam:
        assert cam.url_with_credentials.startswith("rtsp://admin:s3cret@127.0.0.1:")
        head = await raw_describe(cam.url)
        assert head.startswith("RTSP/1.0 401")
        scheme = "Digest" if auth == "digest" else "Basic"
        assert f"WWW-Authenticate: {scheme} " in head

        rc, err = await pull(cam.url, tmp_path / "anon.mp4", seconds=1)
        assert rc != 0
        assert "401" in err

        wrong = cam.url_with_credentials.replace("s3cret", "wrong")
        rc, err = await pull(wrong, tmp_path / "wrong.mp4", seconds=1)
        assert rc != 0

        rc, err = await pull(cam.url_with_credentials, tmp_path / "ok.mp4", seconds=2)
        assert rc == 0, err
    streams = by_type(await probe(tmp_path / "ok.mp4"))
    assert streams["video"]["codec_name"] == "h264"


async def test_sigterm_exits_cleanly() -> None:
    async with start_gst_camera() as cam:
        proc = cam.proc
    assert proc.returncode == 0, cam.stderr
