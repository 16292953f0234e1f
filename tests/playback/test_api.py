"""The playback WebSocket and the export download through the web app (TestClient),
on the shared recordings indexed in a real database."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from authkit import PASSWORDS, basic, make_site
from fmp4_media import decode_errors, video_frames
from messages import as_file, media_seconds, spans, texts
from recorded import T0
from starlette.websockets import WebSocketDisconnect

from nvr.recording.index import SegmentInfo

ADMIN = basic("admin", PASSWORDS["admin"])
VIEWER = basic("viewer1", PASSWORDS["viewer1"])  # may see cam1 only
START = "2023-11-14T22:13:23.500Z"  # T0 + 3.5 s


@pytest.fixture(scope="module")
def site(library, tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    site = make_site(root)
    shutil.copytree(library.data_dir / "recordings", root / "recordings")
    for row in library.rows:
        site.services.index.add(row)
    # a row whose path leaves data_dir: never served
    site.services.index.add(SegmentInfo("cam1", int((T0 + 40) * 1e6), int((T0 + 42) * 1e6), 2.0,
                                        100, "../../etc/passwd", "h264", None, 320, 240))
    return site


def receive_all(ws: Any, more_at: float = 9.0) -> tuple[list[str | bytes], int]:
    """Every message until the server closes; asks for more once ~10 s have come."""
    messages: list[str | bytes] = []
    asked = False
    while True:
        message = ws.receive()
        if message["type"] == "websocket.close":
            return messages, message["code"]
        messages.append(message["text"] if message.get("text") is not None
                        else message["bytes"])
        if not asked and media_seconds(messages) >= more_at:
            ws.send_text(json.dumps({"more": 3600}))
            asked = True


def test_playback_over_the_websocket(site, tmp_path):
    client = site.client()
    with client.websocket_connect(f"/api/cameras/cam1/playback?start={START}",
                                  headers=ADMIN) as ws:
        messages, code = receive_all(ws)
    assert code == 1000
    assert "mime" in texts(messages)[0] and texts(messages)[-1] == {"end": True}
    assert spans(messages)[0]["wall"] == "2023-11-14T22:13:23.000000Z"
    path = as_file(messages, tmp_path / "played.mp4")
    assert decode_errors(path) == ""
    assert len(video_frames(path)) == (3 + 20) * 25
    refused = site.auth.audit.query(action="path_refused")  # the row outside data_dir
    assert refused and refused[0].target == "../../etc/passwd"


def test_a_viewer_plays_their_camera_only(site):
    client = site.client()
    with client.websocket_connect(f"/api/cameras/cam1/playback?start={START}",
                                  headers=VIEWER) as ws:
        first = ws.receive_text()
    assert "mime" in json.loads(first)
    for name in ("cam2", "nosuch"):  # not theirs, or not a camera: the same answer
        with client.websocket_connect(f"/api/cameras/{name}/playback?start={START}",
                                      headers=VIEWER) as ws, \
                pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4404


@pytest.mark.parametrize("query", ["", "?start=", "?start=yesterday", "?start=2023-13-01"])
def test_a_bad_start_closes_with_4400(site, query):
    with site.client().websocket_connect(f"/api/cameras/cam1/playback{query}",
                                         headers=ADMIN) as ws, \
            pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_text()
    assert closed.value.code == 4400 and "start" in closed.value.reason


def test_after_the_last_recording_there_is_only_the_end(site):
    with site.client().websocket_connect(
            "/api/cameras/cam1/playback?start=2023-11-14T22:14:00Z", headers=ADMIN) as ws:
        messages, code = receive_all(ws)
    assert messages == ['{"end": true}'] and code == 1000


def test_export_download(site, tmp_path):
    answer = site.client().get("/api/cameras/cam1/export.mp4", headers=ADMIN,
                               params={"start": START, "end": "2023-11-14T22:13:40Z"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/mp4"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="cam1_2023-11-14T22-13-23Z.mp4"')
    assert int(answer.headers["content-length"]) == len(answer.content)
    path = tmp_path / "clip.mp4"
    path.write_bytes(answer.content)
    assert decode_errors(path) == ""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, timeout=60)
    assert float(out.stdout) == pytest.approx(3 + 10, abs=0.04)
    audit = site.auth.audit.query(action="download")
    assert audit[0].actor == "admin" and audit[0].target == "cam1/export"


@pytest.mark.parametrize(("start", "end", "why"), [
    ("2023-11-14T22:13:30Z", "2023-11-14T22:13:30Z", "start must be before end"),
    ("2023-11-14T22:13:30Z", "2023-11-14T22:13:20Z", "start must be before end"),
    ("2023-11-13T22:13:20Z", "2023-11-14T22:13:21Z", "24 hours"),
    ("soon", "2023-11-14T22:13:21Z", "start: not an ISO 8601 time"),
])
def test_export_refuses_bad_ranges(site, start, end, why):
    answer = site.client().get("/api/cameras/cam1/export.mp4", headers=ADMIN,
                               params={"start": start, "end": end})
    assert answer.status_code == 422 and why in answer.json()["detail"]


def test_export_of_nothing_or_of_someone_elses_camera_is_404(site):
    client = site.client()
    gap = {"start": "2023-11-14T22:13:27Z", "end": "2023-11-14T22:13:29Z"}
    assert client.get("/api/cameras/cam1/export.mp4", headers=ADMIN, params=gap
                      ).json() == {"detail": "no recordings in that range"}
    whole = {"start": "2023-11-14T22:13:00Z", "end": "2023-11-14T22:14:00Z"}
    for name in ("cam2", "nosuch"):
        answer = client.get(f"/api/cameras/{name}/export.mp4", headers=VIEWER, params=whole)
        assert answer.status_code == 404 and answer.json() == {"detail": "no such camera"}
