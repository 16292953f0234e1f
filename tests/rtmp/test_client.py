import asyncio
import json
import shutil
import socket

import pytest
from test_protocol_vectors import VECTORS, _replay

from nvr.rtmp import messages as msg
from nvr.rtmp.chunks import ChunkReader, ChunkWriter
from nvr.rtmp.client import ClientConnection, Connected, PublishStarted, Refused
from nvr.rtmp.events import (
    ConnectionFailed,
    ConnectRequested,
    HandshakeDone,
    MediaReceived,
    PublishRequested,
    StreamDeleted,
)
from nvr.rtmp.handshake import SIZE, ServerHandshake
from nvr.rtmp.protocol import ServerConnection

AVC_HEADER = b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff"


def _pump(client: ClientConnection, server: ServerConnection, decide) -> list:
    """Shuttle bytes both ways until both are quiet; the server's events, in order."""
    events: list = []
    while True:
        to_server, client_events = client.data_to_send(), []
        new = server.receive_data(to_server)
        while new:
            events += new
            for event in new:
                decide(server, event)
            new = server.receive_data(b"")
        to_client = server.data_to_send()
        client_events = client.receive_data(to_client)
        events += client_events
        if not to_server and not to_client:
            return events


def _accept(server, event):
    if isinstance(event, ConnectRequested):
        server.accept_connect()
    elif isinstance(event, PublishRequested):
        server.accept_publish(event.stream_id)


def test_client_publishes_to_our_server():
    client = ClientConnection("live", "rtmp://h/live", "cam?key=k", four_cc_list=["hvc1"])
    server = ServerConnection()
    events = _pump(client, server, _accept)
    connect = next(e for e in events if isinstance(e, ConnectRequested))
    assert connect.app == "live" and connect.four_cc_list == ["hvc1"]
    assert connect.params["flashVer"].startswith("FMLE/3.0")
    assert PublishRequested(1, "cam", {"key": "k"}, "live") in events
    assert any(isinstance(e, Connected) for e in events)
    assert events[-1] == PublishStarted(1) and client.publishing
    client.send_metadata({"width": 320.0})
    client.send_media("video", 0, AVC_HEADER)
    for ts in (0xFFFFF0, 0x1000010):  # across the 24-bit header limit
        client.send_media("video", ts, b"\x27\x01\x00\x00\x00" + bytes(5000))
    client.unpublish()
    events = _pump(client, server, _accept)
    media = [e for e in events if isinstance(e, MediaReceived)]
    assert media[0].metadata == {"width": 320.0}
    assert [(m.kind, m.timestamp) for m in media[1:]] == [
        ("video", 0), ("video", 0xFFFFF0), ("video", 0x1000010)]
    assert events[-1] == StreamDeleted(1)


@pytest.mark.parametrize(("decide", "code"), [
    (lambda s, e: s.reject_connect("No.") if isinstance(e, ConnectRequested) else None,
     "NetConnection.Connect.Rejected"),
    (lambda s, e: s.accept_connect() if isinstance(e, ConnectRequested) else (
        s.reject_publish(e.stream_id) if isinstance(e, PublishRequested) else None),
     "NetStream.Publish.BadName"),
])
def test_client_reports_refusal(decide, code):
    client = ClientConnection("live", "rtmp://h/live", "cam")
    events = _pump(client, ServerConnection(), decide)
    refused = [e for e in events if isinstance(e, Refused)]
    assert [r.code for r in refused] == [code] and client.closed
    with pytest.raises(RuntimeError, match="before PublishStarted"):
        client.send_media("video", 0, b"")


def _server_bytes(*messages) -> bytes:
    writer = ChunkWriter()
    return b"".join(writer.write(m, 3) for m in messages)


def _handshaken_client() -> tuple[ClientConnection, ChunkReader]:
    """A client past the handshake, and a reader that has seen what it sent so far."""
    client = ClientConnection("live", "rtmp://h/live", "cam")
    server = ServerHandshake()
    s012 = server.receive_data(client.data_to_send())
    assert client.receive_data(s012) == [HandshakeDone()]
    reader = ChunkReader()
    sent = reader.feed(client.data_to_send()[SIZE:])  # after C2: Set Chunk Size, connect
    assert [m.type_id for m in sent] == [msg.SET_CHUNK_SIZE, msg.COMMAND_AMF0]
    return client, reader


def test_client_ignores_error_to_release_stream_and_answers_control():
    client, reader = _handshaken_client()
    data = _server_bytes(msg.error(2.0, "NetConnection.Call.Failed", "no"),
                         msg.ping_request(5), msg.set_peer_bandwidth(1000))
    assert client.receive_data(data) == [] and not client.closed
    out = reader.feed(client.data_to_send())
    assert msg.parse_user_control(out[0]) == msg.UserControl(msg.PING_RESPONSE, 5)
    assert out[1].type_id == msg.WINDOW_ACK_SIZE


def test_client_refuses_bad_stream_id_and_garbage():
    client, _ = _handshaken_client()
    events = client.receive_data(_server_bytes(msg.result(4.0, None, -1.0)))
    assert isinstance(events[0], ConnectionFailed) and "stream id -1.0" in events[0].reason
    assert client.receive_data(b"\x03more") == []


@pytest.mark.peer
@pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                    reason="needs ffmpeg")
async def test_client_pushes_to_ffmpeg_listening(tmp_path):
    """ffmpeg in listen mode is an independent RTMP server: the pushed 5 frames arrive."""
    media = [e for e in _replay((VECTORS / "ffmpeg_publish_h264.bin").read_bytes())
             if isinstance(e, MediaReceived)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "push.flv"
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-listen", "1", "-i", f"rtmp://127.0.0.1:{port}/live/test",
        "-c", "copy", str(out), stdin=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            client = ClientConnection("live", f"rtmp://127.0.0.1:{port}/live", "test")
            writer.write(client.data_to_send())
            while not client.publishing and not client.closed:
                data = await reader.read(65536)
                assert data, "ffmpeg closed the connection"
                client.receive_data(data)
                writer.write(client.data_to_send())
            for m in media:
                client.send_media(m.kind, m.timestamp, m.payload)
            client.unpublish()
            writer.write(client.data_to_send())
            await writer.drain()
            writer.close()
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    probe = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-count_frames", "-of", "json", "-show_entries",
        "stream=codec_name,nb_read_frames", str(out), stdout=asyncio.subprocess.PIPE)
    streams = json.loads((await probe.communicate())[0])["streams"]
    assert [(s["codec_name"], s["nb_read_frames"]) for s in streams] == [("h264", "5")]
