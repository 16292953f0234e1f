"""SDP track extraction, including what aiortsp's parser gets wrong."""
# ruff: noqa: E501  (the SDP is a verbatim camera answer)

from __future__ import annotations

from nvr.rtsp.sdp import control_url, parse_tracks

CAMERA_SDP = """v=0
o=- 1 1 IN IP4 0.0.0.0
s=Session streamed by camera
a=control:*
t=0 0
m=video 0 RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1;profile-level-id=4D0029;sprop-parameter-sets=Z00AKZpkA8ARPy4C3AQEBQAAAwPoAADDUOhgAOTgAAPoAvrxdC4u,aO48gA==
a=control:trackID=1
m=audio 0 RTP/AVP 97
a=rtpmap:97 MPEG4-GENERIC/16000/1
a=fmtp:97 streamtype=5; profile-level-id=15; mode=AAC-hbr; config=1408; SizeLength=13; IndexLength=3; IndexDeltaLength=3
a=control:trackID=2
m=application 0 RTP/AVP 107
a=rtpmap:107 vnd.onvif.metadata/90000
a=control:trackID=3
"""


def test_parse_tracks_camera_sdp():
    tracks, session_control = parse_tracks(CAMERA_SDP)
    assert session_control == "*"
    assert [(t.kind, t.codec, t.payload_type) for t in tracks] == [
        ("video", "h264", 96), ("audio", "aac", 97)]
    video, audio = tracks
    assert video.clock_rate == 90000 and video.control == "trackID=1"
    assert video.fmtp["sprop-parameter-sets"].endswith(",aO48gA==")
    # aiortsp reads the channel count as the clock rate here
    assert (audio.clock_rate, audio.channels) == (16000, 1)
    assert audio.fmtp["sizelength"] == "13" and audio.fmtp["config"] == "1408"


def test_parse_tracks_h265_and_unknown_codec():
    sdp = ("m=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\n"
           "m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    tracks, _ = parse_tracks(sdp)
    assert [(t.codec, t.supported) for t in tracks] == [("h265", True), ("pcmu", False)]


def test_parse_tracks_garbage_gives_nothing():
    assert parse_tracks("not an sdp\nm=video x\n=\n") == ([], "")


def test_control_url_joins_like_rfc2326():
    base = "rtsp://cam:554/live/"
    assert control_url(base, "*", "trackID=1") == "rtsp://cam:554/live/trackID=1"
    assert control_url("rtsp://cam/live", "", "trackID=1") == "rtsp://cam/live/trackID=1"
    assert control_url(base, "*", "rtsp://other/x") == "rtsp://other/x"
    assert control_url(base, "*", "") == base
