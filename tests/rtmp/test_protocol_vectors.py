"""Real clients' bytes (captured by ``capture_vectors.py``) replayed through ServerConnection.

ffmpeg 5.1 publishing 5 frames of 160x120 H.264 (one with AAC too, to
``live/test?key=secret``); ffmpeg and rtmpdump 2.4 playing ``live/test``.
"""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rtmp_relay import accept

from nvr.rtmp.events import (
    BufferLengthSet,
    ConnectionFailed,
    ConnectRequested,
    Event,
    HandshakeDone,
    MediaReceived,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
)
from nvr.rtmp.protocol import ServerConnection

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rtmp"


def _replay(data: bytes, splits: list[int] | None = None) -> list[Event]:
    """Feed ``data`` (cut at ``splits``), accepting every request like a permissive server."""
    conn, events = ServerConnection(), []
    cuts = [0, *sorted(splits or []), len(data)]
    for start, end in zip(cuts, cuts[1:], strict=False):
        new = conn.receive_data(data[start:end])
        while new:
            events += new
            for event in new:
                accept(conn, event)
            new = conn.receive_data(b"")
        conn.data_to_send()
    return events


def test_ffmpeg_publish_h264_events():
    events = _replay((VECTORS / "ffmpeg_publish_h264.bin").read_bytes())
    assert events[0] == HandshakeDone()
    connect = events[1]
    assert isinstance(connect, ConnectRequested)
    assert connect.app == "live" and connect.tc_url.endswith("/live")
    assert connect.params["flashVer"].startswith("FMLE/3.0")
    assert events[2] == PublishRequested(1, "test", {}, "live")
    media = [e for e in events if isinstance(e, MediaReceived)]
    assert media[0].kind == "data" and media[0].metadata is not None
    assert media[0].metadata["width"] == 160.0 and media[0].metadata["videocodecid"] == 7.0
    assert media[0].payload.startswith(b"\x02\x00\x0aonMetaData")  # @setDataFrame unwrapped
    video = [e for e in media if e.kind == "video"]
    assert video[0].payload[:2] == b"\x17\x00"  # AVC sequence header first
    frames = [e for e in video if e.payload[1] == 1]
    assert len(frames) == 5 and frames[0].payload[0] == 0x17  # keyframe first
    assert [e.timestamp for e in frames] == [0, 100, 200, 300, 400]
    assert video[-1].payload == b"\x17\x02\x00\x00\x00"  # end of sequence
    assert events[-1] == StreamDeleted(1)
    assert not any(isinstance(e, ConnectionFailed) for e in events)


def test_ffmpeg_publish_h264_aac_events():
    events = _replay((VECTORS / "ffmpeg_publish_h264_aac.bin").read_bytes())
    assert [e for e in events if isinstance(e, PublishRequested)] == [
        PublishRequested(1, "test", {"key": "secret"}, "live")]
    media = [e for e in events if isinstance(e, MediaReceived)]
    assert media[0].metadata is not None and media[0].metadata["audiocodecid"] == 10.0
    audio = [e for e in media if e.kind == "audio"]
    assert audio[0].payload[:2] == b"\xaf\x00"  # AAC sequence header
    assert len(audio) >= 2 and all(a.payload[:2] == b"\xaf\x01" for a in audio[1:])
    assert len([e for e in media if e.kind == "video" and e.payload[1] == 1]) == 5


@pytest.mark.parametrize("name", ["ffmpeg_play.bin", "rtmpdump_play.bin"])
def test_players_connect_and_play(name):
    events = _replay((VECTORS / name).read_bytes())
    connect = events[1]
    assert isinstance(connect, ConnectRequested) and connect.app == "live"
    plays = [e for e in events if isinstance(e, PlayRequested)]
    assert [(p.stream_id, p.stream_name) for p in plays] == [(1, "test")]
    assert any(isinstance(e, BufferLengthSet) and e.stream_id == 1 for e in events)
    assert not any(isinstance(e, ConnectionFailed) for e in events)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 10535), max_size=30))
def test_ffmpeg_publish_any_tcp_segmentation_gives_same_events(splits):
    data = (VECTORS / "ffmpeg_publish_h264.bin").read_bytes()
    assert _replay(data, splits) == _replay(data)


def test_pyav_ffmpeg8_publish_hevc_enhanced_rtmp_events():
    """FFmpeg 8 (PyAV's) sends H.265 as Enhanced RTMP: ExHeader bit, FourCC hvc1."""
    events = _replay((VECTORS / "pyav_publish_hevc.bin").read_bytes())
    assert [e for e in events if isinstance(e, PublishRequested)] == [
        PublishRequested(1, "hevc", {}, "live")]
    video = [e for e in events if isinstance(e, MediaReceived) and e.kind == "video"]
    assert video[0].payload[:5] == b"\x90hvc1"  # keyframe, SequenceStart
    coded = [e for e in video if e.payload[0] & 0x0F == 1]  # CodedFrames (with cts)
    assert len(coded) == 5 and [e.payload[1:5] for e in coded] == [b"hvc1"] * 5
    assert [e.timestamp for e in coded] == [0, 100, 200, 300, 400]
    assert events[-1] == StreamDeleted(1)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_fuzz_mutated_ffmpeg_publish_fails_cleanly(data):
    """A hostile publisher: any corruption of real client bytes ends, at worst, in one
    ConnectionFailed as the last event, never an exception."""
    raw = bytearray((VECTORS / "ffmpeg_publish_h264.bin").read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(3073, 3600))  # the commands and first chunks
        raw[pos] = data.draw(st.integers(0, 255))
    events = _replay(bytes(raw[:data.draw(st.integers(3073, len(raw)))]))
    failed = [i for i, e in enumerate(events) if isinstance(e, ConnectionFailed)]
    assert failed in ([], [len(events) - 1])
