"""PublishedCamera: the source of a camera with an rtmp:// URL, filled by one publisher
at a time into a feed that outlives each of them; audio only when the camera wants it."""

from __future__ import annotations

import pytest
from fmp4.fmp4_media import encode_aac, encode_video

from nvr.feed import AccessUnit, CodecParams, Feed
from nvr.rtmp.flv import audio_sequence_header, audio_tag, video_sequence_header, video_tag
from nvr.rtmpcamera import PublishedCamera

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def media() -> tuple[list[bytes], list[bytes]]:
    """FLV tag bodies of 25 frames of H.264 (with B-frames) and of 10 AAC frames."""
    params, frames = encode_video("h264", frames=25, bframes=2, gop=25, width=160, height=96)
    video = [video_sequence_header(params)] + [
        video_tag(AccessUnit(params, f.pts, f.dts, f.keyframe, T0, f.data)) for f in frames]
    aac, packets = encode_aac(seconds=0.25, rate=44100, channels=1)
    audio = [audio_sequence_header(aac)] + [
        audio_tag(AccessUnit(aac, i * 1024, i * 1024, True, T0, p))
        for i, p in enumerate(packets[:10])]
    return video, audio


def _publish(camera: PublishedCamera, media: tuple[list[bytes], list[bytes]]) -> None:
    video, audio = media
    pub = camera.attach("127.0.0.1:5000")
    for i, (v, a) in enumerate(zip(video, audio + [b""] * len(video), strict=False)):
        pub.media("video", i * 40, v)
        if a:
            pub.media("audio", i * 23, a)
    pub.close()
    camera.detach(pub)


@pytest.mark.parametrize("audio", [True, False])
def test_publishers_come_and_go_the_feed_stays(media, audio: bool) -> None:
    feed = Feed("drone")
    camera = PublishedCamera("drone", "live/dji", feed, audio=audio)
    assert camera.state.status == "connecting"
    assert camera.state.last_error == "waiting for a publisher at live/dji"
    sub = feed.subscribe(maxsize=1000)
    got: list[CodecParams] = []
    for session in (1, 2):
        pub = camera.attach("127.0.0.1:5000")
        assert camera.busy and camera.state is pub.state
        camera.detach(pub)
        _publish(camera, media)
        assert not feed.closed and not camera.busy
        assert camera.state.status == "offline"
        assert "disconnected" in (camera.state.last_error or "")
        aus = sub.drain()
        assert sum(au.params.kind == "video" for au in aus) == 25, session
        assert sum(au.params.kind == "audio" for au in aus) == (10 if audio else 0)
        video = [au for au in aus if au.params.kind == "video"]
        assert video[0].keyframe  # each session decodable from its start
        got.append(video[0].params)
    assert [(p.codec, p.width, p.height) for p in got] == [("h264", 160, 96)] * 2
