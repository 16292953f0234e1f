"""Recording from a camera nobody here wrote: GStreamer's RTSP server."""

from __future__ import annotations

from gst_peer import start_gst_camera
from nvrharness import decode_errors, ffprobe, running_nvr, wait_until


async def _segments(nvr, camera: str, n: int):
    rows = await nvr.recordings(camera)
    return rows if len(rows) >= n else None


async def test_record_gstreamer_digest_h264_aac_tcp_and_udp(tmp_path):
    async with start_gst_camera(codec="h264", audio=True, user="admin",
                                password="g$t:secret", auth="digest") as cam:
        cameras = [
            {"name": "gst_tcp", "url": cam.url_with_credentials, "audio": True},
            {"name": "gst_udp", "url": cam.url_with_credentials, "transport": "udp"},
        ]
        async with running_nvr(tmp_path, cameras) as nvr:
            tcp = await wait_until(lambda: _segments(nvr, "gst_tcp", 2), 40, "TCP segments")
            udp = await wait_until(lambda: _segments(nvr, "gst_udp", 2), 40, "UDP segments")
            cams = await nvr.cameras()
    assert cams["gst_tcp"]["status"] == "online" and cams["gst_tcp"]["codec"] == "h264"
    assert (cams["gst_tcp"]["width"], cams["gst_tcp"]["height"]) == (320, 240)
    assert "secret" not in str(cams)
    info = ffprobe(tmp_path / "data" / tcp[0]["path"])
    assert sorted(s["codec_name"] for s in info["streams"]) == ["aac", "h264"]
    assert decode_errors(tmp_path / "data" / tcp[0]["path"]) == ""
    assert tcp[0]["end"] == tcp[1]["start"]
    udp_info = ffprobe(tmp_path / "data" / udp[0]["path"])
    assert [s["codec_name"] for s in udp_info["streams"]] == ["h264"]


async def test_record_gstreamer_h265(tmp_path):
    async with start_gst_camera(codec="h265") as cam:
        async with running_nvr(tmp_path, [{"name": "gst265", "url": cam.url}]) as nvr:
            rows = await wait_until(lambda: _segments(nvr, "gst265", 1), 60, "an H.265 segment")
            assert (await nvr.cameras())["gst265"]["codec"] == "h265"
    info = ffprobe(tmp_path / "data" / rows[0]["path"])
    assert info["streams"][0]["codec_name"] == "hevc"
    assert decode_errors(tmp_path / "data" / rows[0]["path"]) == ""


async def test_record_gstreamer_wrong_password_is_auth_failed(tmp_path):
    async with start_gst_camera(codec="h264", user="admin", password="right") as cam:
        bad = cam.url_with_credentials.replace("right", "nope")
        async with running_nvr(tmp_path, [{"name": "gstbad", "url": bad}]) as nvr:
            cam_state = await wait_until(lambda: _auth_failed(nvr), 20, "auth_failed")
    assert "gstbad" in cam_state["last_error"] and "nope" not in cam_state["last_error"]


async def _auth_failed(nvr):
    cam = (await nvr.cameras())["gstbad"]
    return cam if cam["status"] == "auth_failed" else None
