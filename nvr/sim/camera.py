"""What a simulated camera is (`SimCamera`) and its state inside a running server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nvr.sim.auth import AUTH_SCHEMES
from nvr.sim.faults import CameraFaults
from nvr.sim.media import EncodedClip, MediaParams, encode_clip
from nvr.sim.packetize import ClipPackets, FramePackets
from nvr.sim.quirks import SDP_FAULTS, garbage_frames, noise_packets
from nvr.sim.scenes import PATTERN, SCENES

if TYPE_CHECKING:
    from nvr.sim.connection import RtspConnection

TRANSPORTS = ("tcp", "udp")


@dataclass
class SimCamera:
    """One simulated camera, served at rtsp://host:port/<name>.

    Encoding: `codec` ("h264" or "h265"), `width`, `height`, `fps`,
    `bitrate_kbps`, `gop_seconds` (keyframe interval), `bframes` (B-frames
    between references: pts != dts), `open_gop` (H.265: CRA keyframes with
    leading RASL pictures; see nvr.sim.media), `audio` (AAC track), `audio_rate`.

    Content: `scene` is "pattern" (the sliding-bar test pattern, a two-GOP loop)
    or one of `nvr.sim.scenes.SCENES` (scripted motion, keyed on the time since
    PLAY; the loop is the scene's script, which must be a whole number of GOPs).

    Access: `user`, `password` (None: no authentication), `auth` ("basic",
    "digest" or "both").

    Timestamps: `ts_start` is the first RTP timestamp of every track of every
    session (None: random, like a camera; near 2**32 it makes the timestamps wrap
    soon after PLAY). `ticks_short_per_gop` makes the camera's video clock slow:
    each GOP spans that many 90 kHz ticks less than nominal (1: with 2 s GOPs the
    keyframe shown at 10 s is stamped 10 s - 5/90000 after the first); sender
    reports follow the same slow clock.

    Misbehaviour from the first request on (for what switches at run time see
    nvr.sim.faults):

    - `sdp_faults`: a malformed DESCRIBE answer, any of `nvr.sim.quirks.SDP_FAULTS`
      (broken AAC config, broken/garbage/empty/missing sprop, no video media).
    - `noise`: every video RTP packet carries random bytes (valid RTP header, no
      decodable NAL unit, no parameter set); see nvr.sim.quirks.
    - `garbage_every`: the initial `CameraFaults.garbage(every)`: a garbage frame
      after every n-th valid video frame.
    - `play_burst`: the PLAY reply and the packets of the first `play_burst` video
      frames (the first is a keyframe that starts a GOP) go out in one TCP write,
      and pacing continues as if those frames had been due already (a camera
      flushing its buffer; over UDP the frames' datagrams leave just before the
      reply). 0 (default): the first frame follows the reply in its own write,
      right away (on the session task's first turn), also starting a GOP.
    - `transports`: the transports SETUP accepts, of "tcp" (RTP/AVP/TCP
      interleaved) and "udp"; any other answers 461 Unsupported Transport.
      The server-wide `SimServer(udp=False)` refuses UDP for every camera.
    """

    name: str
    codec: str = "h264"
    width: int = 1280
    height: int = 720
    fps: int = 25
    bitrate_kbps: int = 4000
    audio: bool = False
    user: str | None = None
    password: str | None = None
    auth: str = "digest"
    audio_rate: int = 48000
    ts_start: int | None = None
    bframes: int = 0
    gop_seconds: int = 2
    open_gop: bool = False
    ticks_short_per_gop: int = 0
    sdp_faults: tuple[str, ...] = ()
    noise: bool = False
    garbage_every: int = 0
    play_burst: int = 0
    transports: tuple[str, ...] = TRANSPORTS
    scene: str = PATTERN

    def media_params(self) -> MediaParams:
        return MediaParams(
            codec=self.codec,
            width=self.width,
            height=self.height,
            fps=self.fps,
            bitrate_kbps=self.bitrate_kbps,
            gop_seconds=self.gop_seconds,
            audio=self.audio,
            audio_rate=self.audio_rate,
            bframes=self.bframes,
            open_gop=self.open_gop,
            scene=self.scene,
            loop_gops=self._loop_gops(),
        )

    def _loop_gops(self) -> int:
        scene = SCENES.get(self.scene)
        return 2 if scene is None else max(1, scene.seconds // self.gop_seconds)

    def check(self) -> None:
        """ValueError for settings that cannot work (before anything is encoded)."""
        if self.auth not in AUTH_SCHEMES:
            raise ValueError(f"camera {self.name}: auth must be basic, digest or both")
        if self.codec not in ("h264", "h265"):
            raise ValueError(f"camera {self.name}: codec must be h264 or h265")
        if self.open_gop and self.codec != "h265":
            raise ValueError(f"camera {self.name}: open_gop needs codec h265")
        unknown = set(self.sdp_faults) - SDP_FAULTS
        if unknown:
            raise ValueError(f"camera {self.name}: unknown sdp_faults {sorted(unknown)}")
        if not set(self.transports) <= set(TRANSPORTS):
            raise ValueError(f"camera {self.name}: transports must be of {TRANSPORTS}")
        if self.play_burst < 0 or self.garbage_every < 0 or self.gop_seconds < 1:
            raise ValueError(f"camera {self.name}: negative play_burst/garbage_every or no GOP")
        if self.scene != PATTERN and self.scene not in SCENES:
            raise ValueError(f"camera {self.name}: unknown scene {self.scene!r} "
                             f"(known: {', '.join((PATTERN, *SCENES))})")
        scene = SCENES.get(self.scene)
        if scene is not None and scene.seconds % self.gop_seconds:
            raise ValueError(f"camera {self.name}: scene {self.scene} lasts {scene.seconds} s, "
                             f"not a whole number of {self.gop_seconds} s GOPs")
        if self.play_burst > self.fps * self.gop_seconds * 2:  # the loop is two GOPs
            raise ValueError(f"camera {self.name}: play_burst longer than the loop")


_packets_cache: dict[tuple[int, int, bool], ClipPackets] = {}


def _clip_packets(clip: EncodedClip, mtu: int, noise: bool) -> ClipPackets:
    key = (id(clip), mtu, noise)  # clips live in the media cache for the process lifetime
    packets = _packets_cache.get(key)
    if packets is None:
        packets = ClipPackets.build(clip, mtu)
        if noise:
            packets = noise_packets(clip, packets)
        _packets_cache[key] = packets
    return packets


@dataclass
class CameraState:
    """A camera inside a server: its clip, packets, faults and RTSP connections."""

    camera: SimCamera
    clip: EncodedClip | None = None
    packets: ClipPackets | None = None
    keyframes: list[int] = field(default_factory=list)  # indexes into packets.video
    garbage: list[FramePackets] = field(default_factory=list)
    connections: set[RtspConnection] = field(default_factory=set)
    faults: CameraFaults = field(init=False)

    def __post_init__(self) -> None:
        self.faults = CameraFaults(self._disconnect_all, self._set_password, self._bye_all)
        self.faults.garbage(self.camera.garbage_every)

    def prepare(self, mtu: int) -> None:
        """Encode (or take from the cache) and packetize the clip; blocking."""
        self.clip = encode_clip(self.camera.media_params())
        self.packets = _clip_packets(self.clip, mtu, self.camera.noise)
        self.keyframes = [i for i, f in enumerate(self.packets.video) if f.keyframe]
        self.garbage = garbage_frames(self.camera.codec, mtu)

    def _bye_all(self) -> None:
        for conn in list(self.connections):
            if conn.session is not None:
                conn.session.bye()

    def _disconnect_all(self, bye: bool) -> None:
        if bye:
            self._bye_all()
        for conn in list(self.connections):
            conn.close()

    def _set_password(self, password: str | None) -> None:
        self.camera.password = password
