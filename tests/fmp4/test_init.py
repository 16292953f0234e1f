"""The init segment as readers see it: ffprobe, and the box tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from fmp4_media import Encoded, ffprobe, he_aac_params

from nvr.feed import CodecParams
from nvr.fmp4 import init_segment
from nvr.fmp4.boxes import find, read_boxes

STREAM = "stream=codec_type,codec_name,codec_tag_string,width,height,time_base,sample_rate,channels"


def _streams(tmp_path: Path, data: bytes) -> list[dict]:
    path = tmp_path / "init.mp4"
    path.write_bytes(data)
    return ffprobe(path, STREAM)["streams"]


def test_h264_and_aac_tracks(tmp_path: Path, h264: Encoded, aac):
    video, audio = h264[0], aac[0]
    streams = _streams(tmp_path, init_segment(video, audio))
    assert [(s["codec_type"], s["codec_tag_string"]) for s in streams] == [
        ("video", "avc1"), ("audio", "mp4a")]
    assert (streams[0]["width"], streams[0]["height"], streams[0]["time_base"]) == (
        320, 240, "1/90000")
    assert (streams[1]["sample_rate"], streams[1]["channels"], streams[1]["time_base"]) == (
        "48000", 1, "1/48000")


def test_h265_is_hvc1(tmp_path: Path, h265: Encoded):
    (stream,) = _streams(tmp_path, init_segment(h265[0], None))
    assert (stream["codec_name"], stream["codec_tag_string"]) == ("hevc", "hvc1")
    assert (stream["width"], stream["height"]) == (320, 240)


def test_size_comes_from_the_sps_when_params_lack_it(tmp_path: Path, h265: Encoded):
    video = h265[0]
    bare = CodecParams(kind="video", codec="h265", clock_rate=90_000, vps=video.vps,
                       sps=video.sps, pps=video.pps)
    (stream,) = _streams(tmp_path, init_segment(bare, None))
    assert (stream["width"], stream["height"]) == (320, 240)


def test_box_tree_of_a_fragmented_file(h264: Encoded):
    boxes = read_boxes(init_segment(h264[0], he_aac_params()))
    assert [b.kind for b in boxes] == [b"ftyp", b"moov"]
    assert len(find(boxes, b"trak")) == 2
    trex = find(boxes, b"trex")
    assert [int.from_bytes(t.payload[4:8], "big") for t in trex] == [1, 2]
    for table in (b"stts", b"stsc", b"stco"):  # no samples in the moov
        assert all(t.payload[4:8] == b"\0\0\0\0" for t in find(boxes, table))
    assert not find(boxes, b"elst")  # no edit list: the first frame is at time 0


def test_missing_parameter_sets_and_unknown_codecs_raise(h264: Encoded):
    with pytest.raises(ValueError, match="without SPS/PPS"):
        init_segment(CodecParams(kind="video", codec="h264", clock_rate=90_000, width=1,
                                 height=1), None)
    with pytest.raises(ValueError, match="unsupported audio codec"):
        init_segment(h264[0], CodecParams(kind="audio", codec="opus", clock_rate=48000,
                                          sample_rate=48000, channels=2))
