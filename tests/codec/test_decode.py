"""VideoDecoder on real H.264 with B-frames (PyAV libx264): every picture comes out in
display order with the wall clock of the frame it was."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from nvr.codec.decode import VideoDecoder
from nvr.codec.nal import split_annexb, to_avcc

FPS, TICKS = 25, 90_000 // 25
T0 = 1_700_000_000.0


def _h264_with_bframes(frames: int) -> list[tuple[bytes, list[bytes], bool, int, int]]:
    """(AVCC data, parameter sets, keyframe, pts, dts) in decode order."""
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = 64, 48, "yuv420p"
    cc.time_base, cc.framerate = Fraction(1, 90_000), Fraction(FPS)
    cc.options = {"preset": "ultrafast", "bf": "2", "g": "50", "x264-params": "log=-1"}
    packets = []
    for i in range(frames):
        picture = av.VideoFrame(64, 48, "yuv420p")
        for plane in picture.planes:
            plane.update(bytes([i * 5 % 256]) * plane.buffer_size)
        picture.pts = i * TICKS
        packets += cc.encode(picture)
    packets += cc.encode(None)
    out = []
    for packet in packets:
        nals = split_annexb(bytes(packet))
        sets = [n for n in nals if n[0] & 0x1F in (7, 8)]
        data = to_avcc([n for n in nals if n[0] & 0x1F not in (7, 8, 9)])
        out.append((data, sets, bool(packet.is_keyframe), packet.pts, packet.dts))
    return out


def test_pictures_in_display_order_with_their_wall_clocks() -> None:
    units = _h264_with_bframes(30)
    assert any(pts != dts for _, _, _, pts, dts in units)  # the stream reorders
    decoder = VideoDecoder("h264")
    shown: list[tuple[int, float | None]] = []
    for data, sets, key, pts, dts in units:
        frames = decoder.decode(data, sets if key else None, pts, dts, T0 + pts / 90_000)
        shown += [(f.pts, decoder.wallclock(f.pts)) for f in frames]
    shown += [(f.pts, decoder.wallclock(f.pts)) for f in decoder.flush()]
    assert [p for p, _ in shown] == [i * TICKS for i in range(30)]
    assert [w for _, w in shown] == [T0 + i / FPS for i in range(30)]
    assert not decoder.stalled


def test_unknown_codecs_are_refused() -> None:
    # (a decoder that silently stops giving pictures: tests/live/test_transcode.py)
    with pytest.raises(ValueError, match="no decoder"):
        VideoDecoder("mjpeg")
