import pytest

from nvr.rtsp.timestamps import TimestampUnwrapper, TrackClock, WallClockMapper

T0 = 1_700_000_000.0


def test_unwrap_timestamp_forward_wrap_is_continuous():
    u = TimestampUnwrapper(90_000)
    assert u.unwrap(0xFFFFF000) == (0xFFFFF000, False)
    assert u.unwrap(0x00000800) == (0x1_0000_0800, False)
    assert u.unwrap(0x00001000) == (0x1_0000_1000, False)


def test_unwrap_timestamp_small_backward_step_kept():
    u = TimestampUnwrapper(90_000)
    u.unwrap(10)  # B-frames: presentation order steps back a little
    assert u.unwrap(0xFFFFFF00) == (10 - 0x10A, False)
    u2 = TimestampUnwrapper(90_000)
    u2.unwrap(90_000)
    assert u2.unwrap(87_000) == (87_000, False)


def test_unwrap_timestamp_big_jump_is_discontinuity():
    u = TimestampUnwrapper(90_000, max_jump=10)
    u.unwrap(1000)
    value, jumped = u.unwrap(1000 + 3600 * 90_000)
    assert jumped and value == 1000 + 3600 * 90_000
    _, jumped = u.unwrap(1000)
    assert jumped


def test_unwrap_timestamp_bad_clock_rate_raises():
    with pytest.raises(ValueError, match="clock rate"):
        TimestampUnwrapper(0)


def test_map_wallclock_follows_rtp_clock_not_jitter():
    m = WallClockMapper(90_000)
    assert m.map(500, T0) == (T0, False)
    wall, re = m.map(500 + 90_000, T0 + 1.3)  # arrived late: jitter
    assert wall == pytest.approx(T0 + 1.0) and not re


def test_map_wallclock_drift_reanchors():
    m = WallClockMapper(90_000, max_drift=5)
    m.map(0, T0)
    wall, re = m.map(90_000, T0 + 60)  # 1 s of RTP clock in 60 s of real time
    assert re and wall == T0 + 60
    assert m.reanchors == 1
    wall, re = m.map(2 * 90_000, T0 + 61)
    assert wall == pytest.approx(T0 + 61) and not re


def test_map_track_clock_starts_at_zero_and_follows_ts():
    c = TrackClock(90_000)
    base = 123_456_789
    assert c.map(base, 1, T0) == (0, T0)
    pts, wall = c.map(base + 3600, 1, T0 + 0.04)
    assert pts == 3600 and wall == pytest.approx(T0 + 0.04)


def test_map_track_clock_wrap_keeps_pts_continuous():
    c = TrackClock(90_000)
    ts = 0xFFFFFFFF - 3599
    now = T0
    pts = []
    for _ in range(4):
        pts.append(c.map(ts & 0xFFFFFFFF, 7, now)[0])
        ts += 3600
        now += 0.04
    assert pts == [0, 3600, 7200, 10800]


def test_map_track_clock_jump_absorbed_by_one_frame():
    c = TrackClock(90_000)
    now = T0
    for i in range(5):
        c.map(1000 + i * 3000, 1, now)
        now += 1 / 30
    pts, wall = c.map(1000 + 4 * 3000 + 5 * 3600 * 90_000, 1, now)
    assert pts == 5 * 3000
    assert wall == pytest.approx(now)
    assert c.discontinuities == 1
    pts, _ = c.map(1000 + 5 * 3000 + 5 * 3600 * 90_000, 1, now + 1 / 30)
    assert pts == 6 * 3000


def test_map_track_clock_backward_jump_absorbed():
    c = TrackClock(90_000, frame_duration=3600)
    c.map(50_000_000, 1, T0)
    c.map(50_003_600, 1, T0 + 0.04)
    pts, _ = c.map(0, 1, T0 + 0.08)
    assert pts == 7200
    pts, _ = c.map(3600, 1, T0 + 0.12)
    assert pts == 10800


def test_map_track_clock_ssrc_change_rebases():
    c = TrackClock(8000, frame_duration=1024)
    c.map(4000, 0xAA, T0)
    c.map(5024, 0xAA, T0 + 0.128)
    pts, wall = c.map(77, 0xBB, T0 + 0.256)  # camera restarted its stream
    assert pts == 2048
    assert wall == pytest.approx(T0 + 0.256)
    assert c.ssrc_changes == 1
    assert c.map(77 + 1024, 0xBB, T0 + 0.384)[0] == 3072


def test_map_track_clock_b_frames_keep_reordered_pts():
    c = TrackClock(90_000)
    out = [c.map(ts, 1, T0)[0] for ts in (0, 10800, 3600, 7200, 21600)]
    assert out == [0, 10800, 3600, 7200, 21600]
    assert c.discontinuities == 0


def test_map_track_clock_slow_camera_clock_reanchors_wall_only():
    c = TrackClock(90_000, max_drift=2)
    now = T0
    ts = 0
    last_pts = -1
    for _ in range(600):  # camera clock runs 1/6 slow: wall drifts behind
        pts, wall = c.map(ts, 1, now)
        assert pts > last_pts
        last_pts = pts
        assert abs(wall - now) <= 2.0
        ts += 3000
        now += 0.04
    assert c.wall.reanchors >= 1
    assert c.discontinuities == 0
