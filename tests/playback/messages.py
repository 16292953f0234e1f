"""Reading what a playback viewer received: the text messages, the fragments' boxes,
and the whole as one fMP4 file for ffmpeg."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fmp4_media import parse_trun

from nvr.fmp4.boxes import find, read_boxes
from nvr.fmp4.fragment import KEY_FLAGS

VIDEO = 1


@dataclass(frozen=True)
class Run:
    track_id: int
    decode_time: int
    durations: list[int]
    keyframes: list[bool]

    @property
    def end(self) -> int:
        return self.decode_time + sum(self.durations)


def runs(fragment: bytes) -> list[Run]:
    out = []
    for traf in find(read_boxes(fragment), b"traf"):
        tfhd = next(b for b in traf.children if b.kind == b"tfhd")
        tfdt = next(b for b in traf.children if b.kind == b"tfdt")
        trun = next(b for b in traf.children if b.kind == b"trun")
        _, rows = parse_trun(trun.payload)
        out.append(Run(int.from_bytes(tfhd.payload[4:8], "big"),
                       int.from_bytes(tfdt.payload[4:12], "big"),
                       [r[0] for r in rows], [r[2] == KEY_FLAGS for r in rows]))
    return out


def texts(messages: list[str | bytes]) -> list[dict[str, Any]]:
    return [json.loads(m) for m in messages if isinstance(m, str)]


def spans(messages: list[str | bytes]) -> list[dict[str, Any]]:
    return [t["span"] for t in texts(messages) if "span" in t]


def fragments(messages: list[str | bytes]) -> list[bytes]:
    return [m for m in messages if isinstance(m, bytes) and m[4:8] == b"moof"]


def video_runs(messages: list[str | bytes]) -> list[Run]:
    return [r for f in fragments(messages) for r in runs(f) if r.track_id == VIDEO]


def media_seconds(messages: list[str | bytes]) -> float:
    """Where the video sent so far ends on the media timeline."""
    video = video_runs(messages)
    return video[-1].end / 90000 if video else 0.0


def as_file(messages: list[str | bytes], path: Path) -> Path:
    """The binary messages as one file (one init segment expected)."""
    binary = [m for m in messages if isinstance(m, bytes)]
    assert sum(m[4:8] == b"ftyp" for m in binary) == 1
    path.write_bytes(b"".join(binary))
    return path
