"""FLV/RTMP tag bodies both ways, timestamps per player and per publisher, and the
parsers under fuzzing (only FlvError may come out)."""

from __future__ import annotations

import pytest
from fmp4.fmp4_media import encode_aac, encode_video
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvr.codec.nal import to_avcc
from nvr.feed import VIDEO_CLOCK, AccessUnit, CodecParams
from nvr.rtmp.flv import (
    TAG_AUDIO,
    TAG_VIDEO,
    FlvError,
    Timeline,
    audio_sequence_header,
    audio_tag,
    file_header,
    file_tag,
    file_tags,
    video_end_of_sequence,
    video_sequence_header,
    video_tag,
)
from nvr.rtmp.flv_parse import Clock, Ingest, parse_audio, parse_config, parse_video

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def h264() -> tuple[CodecParams, list[AccessUnit]]:
    params, frames = encode_video("h264", frames=12, bframes=2, gop=12, width=160, height=96)
    return params, [AccessUnit(params, f.pts, f.dts, f.keyframe, T0 + f.pts / VIDEO_CLOCK, f.data)
                    for f in frames]


@pytest.fixture(scope="module")
def h265() -> CodecParams:
    return encode_video("h265", frames=2, width=160, height=96)[0]


@pytest.fixture(scope="module")
def aac() -> CodecParams:
    return encode_aac(seconds=0.1, rate=44100, channels=2)[0]


def _video_au(params: CodecParams, pts: int, dts: int, key: bool = False,
              data: bytes = b"\x00\x00\x00\x02\x41\x9a") -> AccessUnit:
    return AccessUnit(params, pts, dts, key, T0 + dts / VIDEO_CLOCK, data)


# --- out: tag bodies ----------------------------------------------------------------


def test_h264_sequence_header_and_frames_round_trip(h264) -> None:
    params, aus = h264
    header = video_sequence_header(params)
    assert header[:5] == bytes((0x17, 0, 0, 0, 0))  # keyframe, AVC, sequence header, cts 0
    tag = parse_video(header)
    assert (tag.kind, tag.codec) == ("config", "h264")
    parsed, length_size = parse_config("h264", tag.data)
    assert (parsed.sps, parsed.pps, parsed.width, parsed.height) == (
        params.sps, params.pps, 160, 96)
    assert length_size == 4
    for au in aus:
        body = video_tag(au)
        assert body[0] == (0x17 if au.keyframe else 0x27)
        frame = parse_video(body)
        assert (frame.kind, frame.keyframe, frame.data) == ("frame", au.keyframe, au.data)
        assert frame.cts == au.pts * 1000 // VIDEO_CLOCK - au.dts * 1000 // VIDEO_CLOCK
    assert any(parse_video(video_tag(au)).cts > 0 for au in aus)  # the B-frame stream


def test_h265_goes_out_as_enhanced_rtmp_hvc1(h265) -> None:
    header = video_sequence_header(h265)
    assert header[0] == 0x80 | 0x10 | 0 and header[1:5] == b"hvc1"  # SequenceStart
    parsed, _ = parse_config("h265", parse_video(header).data)
    assert (parsed.vps, parsed.sps, parsed.pps) == (h265.vps, h265.sps, h265.pps)
    assert (parsed.width, parsed.height) == (160, 96)
    no_cts = video_tag(_video_au(h265, 900, 900, key=True))
    assert no_cts[0] == 0x80 | 0x10 | 3 and no_cts[1:5] == b"hvc1"  # CodedFramesX
    with_cts = video_tag(_video_au(h265, 9000, 900))
    assert with_cts[0] == 0x80 | 0x20 | 1  # inter frame, CodedFrames
    assert parse_video(with_cts).cts == 90  # ms
    assert parse_video(video_end_of_sequence(h265)).kind == "end"


def test_h264_can_go_out_enhanced_as_avc1(h264) -> None:
    params, aus = h264
    assert video_sequence_header(params, enhanced=True)[1:5] == b"avc1"
    tag = parse_video(video_tag(aus[0], enhanced=True))
    assert (tag.codec, tag.keyframe, tag.data) == ("h264", True, aus[0].data)


def test_aac_tags(aac) -> None:
    assert audio_sequence_header(aac) == b"\xaf\x00" + aac.audio_config
    au = AccessUnit(aac, 0, 0, True, T0, b"\x21\x10")
    assert audio_tag(au) == b"\xaf\x01\x21\x10"
    assert parse_audio(audio_tag(au)) == ("frame", b"\x21\x10")


def test_wrong_kinds_are_flv_errors(h264, aac) -> None:
    with pytest.raises(FlvError):
        video_sequence_header(aac)
    with pytest.raises(FlvError):
        audio_sequence_header(h264[0])
    with pytest.raises(FlvError):
        video_sequence_header(CodecParams(kind="video", codec="h264", clock_rate=VIDEO_CLOCK))


# --- out: timestamps per player -------------------------------------------------------


def test_timeline_starts_each_player_at_zero_and_places_audio_by_wall_clock(h264, aac) -> None:
    params = h264[0]
    late = 10 * 3600 * VIDEO_CLOCK  # a player joining a feed 10 h in
    timeline = Timeline()
    assert timeline.timestamp(_video_au(params, late, late, key=True)) == 0
    audio = AccessUnit(aac, 5_000_000, 5_000_000, True, T0 + late / VIDEO_CLOCK + 0.020, b"x")
    assert timeline.timestamp(audio) == 20  # 20 ms after the video by wall clock
    assert timeline.timestamp(_video_au(params, late + 3600, late + 3600)) == 40
    audio2 = AccessUnit(aac, 5_000_000 + 1024, 5_000_000 + 1024, True, 0.0, b"x")
    assert timeline.timestamp(audio2) == 20 + 1024 * 1000 // 44100  # its own clock, not wall


def test_timeline_wraps_at_32_bits_and_never_goes_back_on_a_new_session(h264) -> None:
    params = h264[0]
    timeline = Timeline()
    timeline.timestamp(_video_au(params, 0, 0, key=True))
    day50 = 50 * 86400 * VIDEO_CLOCK
    assert timeline.timestamp(_video_au(params, day50, day50)) == (50 * 86400 * 1000) % 2**32
    restarted = Timeline()
    restarted.timestamp(_video_au(params, 90_000, 90_000, key=True))
    assert restarted.timestamp(_video_au(params, 180_000, 180_000)) == 1000
    assert restarted.timestamp(_video_au(params, 0, 0, key=True)) == 1001  # camera restarted
    assert restarted.timestamp(_video_au(params, 3600, 3600)) == 1041


# --- in: publisher timestamps ------------------------------------------------------------


def test_clock_is_monotonic_across_the_24_bit_boundary_and_the_32_bit_wrap() -> None:
    clock = Clock()
    start = 0xFFFFFF - 100  # the chunk layer delivers the full value past 0xFFFFFF
    out = [clock(start + i * 40) for i in range(6)]
    assert out == [0, 40, 80, 120, 160, 200]
    wrap = Clock()
    values = [(2**32 - 80 + i * 40) % 2**32 for i in range(5)]
    assert [wrap(v) for v in values] == [0, 40, 80, 120, 160]
    buggy = Clock()  # a publisher wrapping at 24 bits itself
    assert [buggy(v) for v in (0xFFFFFF - 39, 0, 40)] == [0, 40, 80]
    late = Clock()  # audio a little behind video: a small step back, not a wrap
    assert [late(v) for v in (1000, 1040, 1020, 1080)] == [0, 40, 20, 80]


def _frame_tag(cts: int, key: bool, data: bytes) -> bytes:
    return bytes((0x17 if key else 0x27, 1)) + cts.to_bytes(3, "big", signed=True) + data


def test_ingest_b_frames_across_the_24_bit_boundary(h264) -> None:
    params = h264[0]
    ingest = Ingest(T0)
    base = 0xFFFFFF - 120
    assert ingest.video(base, video_sequence_header(params)) is None
    # decode order I P B B: dts 0 40 80 120, pts 80 200 120 160 (ms); OBS-style cts
    aus = [ingest.video(base + dts, _frame_tag(pts - dts, dts == 0, b"\x00\x00\x00\x01\x65"))
           for dts, pts in ((0, 80), (40, 200), (80, 120), (120, 160))]
    assert all(au is not None for au in aus)
    dts = [au.dts for au in aus if au]
    pts = [au.pts for au in aus if au]
    assert dts == [0, 3600, 7200, 10800]
    assert pts == [7200, 18000, 10800, 14400]  # below the previous pts: B-frames
    assert all(d <= p for d, p in zip(dts, pts, strict=True))
    assert aus[0] is not None and aus[0].params.sps == params.sps and aus[0].keyframe


def test_ingest_never_lets_dts_pass_pts(h264) -> None:
    ingest = Ingest(T0)
    ingest.video(0, video_sequence_header(h264[0]))
    au = ingest.video(40, _frame_tag(-40, True, b"\x00\x00\x00\x01\x65"))
    assert au is not None and au.pts == au.dts == 3600
    again = ingest.video(40, _frame_tag(0, False, b"\x00\x00\x00\x01\x41"))
    assert again is not None and again.dts == 3601  # dts strictly rises


def test_ingest_reframes_2_byte_lengths_and_takes_in_band_parameter_sets(h264) -> None:
    params = h264[0]
    header = bytearray(video_sequence_header(params))
    header[5 + 4] = 0xFC | 1  # lengthSizeMinusOne = 1
    ingest = Ingest(T0)
    ingest.video(0, bytes(header))
    first = ingest.video(0, _frame_tag(0, True, b"\x00\x02\x65\x88\x00\x01\x06"))
    assert first is not None and first.data == to_avcc([b"\x65\x88", b"\x06"])
    assert first.params is ingest.video_params
    # a keyframe carrying the same SPS/PPS in-band: stripped, same params object
    same = params.sps, params.pps
    payload = b"".join(len(n).to_bytes(2, "big") + n for n in (*same, b"\x65\x99"))
    au = ingest.video(40, _frame_tag(0, True, payload))
    assert au is not None and au.data == to_avcc([b"\x65\x99"]) and au.params is first.params


def test_ingest_legacy_hevc_codec_id_12(h265) -> None:
    ingest = Ingest(T0)
    record = video_sequence_header(h265)[5:]  # the HEVCDecoderConfigurationRecord
    ingest.video(0, bytes((0x1C, 0, 0, 0, 0)) + record)
    assert ingest.video_params is not None and ingest.video_params.codec == "h265"
    au = ingest.video(0, bytes((0x1C, 1, 0, 0, 0)) + b"\x00\x00\x00\x02\x26\x01")
    assert au is not None and au.keyframe and au.data == b"\x00\x00\x00\x02\x26\x01"


def test_ingest_aac(aac) -> None:
    ingest = Ingest(T0)
    assert ingest.audio(1000, audio_sequence_header(aac)) is None
    assert ingest.audio_params is not None
    assert (ingest.audio_params.sample_rate, ingest.audio_params.channels) == (44100, 2)
    au = ingest.audio(1000 + 23, b"\xaf\x01\x21\x10")
    assert au is not None and (au.pts, au.duration, au.data) == (
        23 * 44100 // 1000, 1024, b"\x21\x10")
    assert au.wallclock == pytest.approx(T0 + 0.023)


@pytest.mark.parametrize("body, message", [
    (b"", "empty"),
    (b"\x22\x00", "codec id 2"),
    (b"\x17\x05\x00\x00\x00", "AVCPacketType"),
    (b"\x91vp09", "FourCC"),
    (b"\x27\x01\x00\x00\x00\x00\x00\x00\x01\x41", "before its sequence header"),
    (b"\x17\x00\x00\x00\x00\x01\x64", "truncated"),
])
def test_bad_video_tags_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(FlvError, match=message):
        Ingest(T0).video(0, body)


def test_bad_audio_tags() -> None:
    with pytest.raises(FlvError, match="format 2"):
        parse_audio(b"\x2f\x01")  # MP3
    with pytest.raises(FlvError, match="before the AAC sequence header"):
        Ingest(T0).audio(0, b"\xaf\x01\x21")
    with pytest.raises(FlvError, match="AudioSpecificConfig"):
        Ingest(T0).audio(0, b"\xaf\x00\x00")


def test_file_writer_and_reader_round_trip(aac) -> None:
    body = audio_sequence_header(aac)
    data = (file_header(video=True, audio=True) + file_tag(TAG_VIDEO, 0x12345678, b"\x17")
            + file_tag(TAG_AUDIO, 5, body))
    assert data[4] == 5
    assert list(file_tags(data)) == [(TAG_VIDEO, 0x12345678, b"\x17"), (TAG_AUDIO, 5, body)]
    with pytest.raises(FlvError):
        list(file_tags(data[:-10]))


# --- fuzz ------------------------------------------------------------------------------

_FUZZ = settings(max_examples=300, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
_PREFIXES = st.sampled_from([b"", b"\x17\x00", b"\x17\x01", b"\x1c\x00", b"\x90hvc1",
                             b"\x91hvc1", b"\x93hvc1", b"\x80avc1", b"\xaf\x00", b"\xaf\x01"])


@_FUZZ
@given(prefix=_PREFIXES, tail=st.binary(max_size=80), timestamp=st.integers(0, 2**32 - 1))
def test_fuzzed_tags_raise_only_flv_error(prefix: bytes, tail: bytes, timestamp: int) -> None:
    body = prefix + tail
    for parse in (parse_video, parse_audio, lambda b: parse_config("h264", b),
                  lambda b: parse_config("h265", b)):
        try:
            parse(body)
        except FlvError:
            pass
    ingest = Ingest(T0)
    for feed in (ingest.video, ingest.audio):
        try:
            feed(timestamp, body)
        except FlvError:
            pass


@_FUZZ
@given(data=st.data())
def test_fuzzed_frames_after_a_valid_header_raise_only_flv_error(h264, data) -> None:
    ingest = Ingest(T0)
    ingest.video(0, video_sequence_header(h264[0]))
    record = bytearray(video_sequence_header(h264[0]))
    for _ in range(data.draw(st.integers(0, 4))):
        record[data.draw(st.integers(5, len(record) - 1))] = data.draw(st.integers(0, 255))
    frame = b"\x27\x01\x00\x00" + data.draw(st.binary(max_size=40))
    for body in (bytes(record), frame):
        try:
            ingest.video(data.draw(st.integers(0, 2**32 - 1)), body)
        except FlvError:
            pass
