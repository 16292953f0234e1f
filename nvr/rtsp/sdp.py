"""The part of an SDP (RFC 4566) a camera client needs: one Track per usable m= section.

aiortsp's SDP parser misreads ``a=rtpmap:97 MPEG4-GENERIC/16000/1`` (the channel
count becomes the clock rate), so media sections are read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortsp.rtsp.sdp import SDP

_CODECS = {"H264": "h264", "H265": "h265", "MPEG4-GENERIC": "aac"}


@dataclass
class Track:
    kind: str  # "video" | "audio"
    codec: str  # "h264" | "h265" | "aac" | other encoding name, lower case
    payload_type: int
    clock_rate: int
    channels: int = 1
    control: str = ""
    fmtp: dict[str, str] = field(default_factory=dict)

    @property
    def supported(self) -> bool:
        return self.codec in ("h264", "h265", "aac")


def parse_tracks(text: str) -> tuple[list[Track], str]:
    """Return the tracks of an SDP and its session-level control attribute."""
    tracks: list[Track] = []
    session_control = ""
    current: Track | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            current = None
            if len(parts) >= 4 and parts[0] in ("video", "audio"):
                try:
                    payload_type = int(parts[3])
                except ValueError:
                    continue
                current = Track(kind=parts[0], codec="", payload_type=payload_type,
                                clock_rate=0)
                tracks.append(current)
            else:
                current = Track(kind="other", codec="", payload_type=-1, clock_rate=0)
        elif kind == "a":
            name, _, rest = value.partition(":")
            if current is None:
                if name == "control":
                    session_control = rest.strip()
                continue
            if name == "control":
                current.control = rest.strip()
            elif name == "rtpmap":
                _parse_rtpmap(current, rest)
            elif name == "fmtp":
                fmt, _, params = rest.strip().partition(" ")
                if fmt.strip() == str(current.payload_type):
                    current.fmtp = _parse_fmtp(params)
    return [t for t in tracks if t.kind in ("video", "audio")], session_control


def _parse_rtpmap(track: Track, rest: str) -> None:
    pt, _, encoding = rest.strip().partition(" ")
    if pt.strip() != str(track.payload_type):
        return
    fields = encoding.strip().split("/")
    name = fields[0].upper()
    track.codec = _CODECS.get(name, name.lower())
    try:
        track.clock_rate = int(fields[1]) if len(fields) > 1 else 0
        track.channels = int(fields[2]) if len(fields) > 2 else 1
    except ValueError:
        track.clock_rate = 0


def _parse_fmtp(params: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in params.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key:
            out[key.strip().lower()] = value.strip()
    return out


def control_url(base: str, session_control: str, track_control: str) -> str:
    """The URL to SETUP a track (RFC 2326 C.1.1), via aiortsp's URL joining."""
    return SDP.mix_url_control(SDP.mix_url_control(base, session_control), track_control)
