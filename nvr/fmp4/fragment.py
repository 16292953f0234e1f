"""Movie fragments: ``moof`` + ``mdat`` (ISO/IEC 14496-12 8.8).

One fragment holds a run of samples for each track that has some (a GOP of
video and the audio that came with it, or a single frame for a live viewer):

    moof
      mfhd  sequence number (1, 2, 3, ... within a file)
      traf  per track
        tfhd  track id; default-base-is-moof: data offsets count from the moof
        tfdt  version 1: 64-bit decode time of the run's first sample
        trun  version 1: data offset, then per sample duration, size, flags and
              a signed composition offset (pts - dts, negative allowed)
    mdat  the payloads, track after track, exactly as given (AVCC/HVCC video
          with 4-byte NAL lengths, raw AAC frames)

Every fragment is self-contained (its own base decode time, offsets relative to
its own ``moof``), so a file truncated after any complete fragment plays up to
there, and a fragment can be sent to a browser's SourceBuffer on its own.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["KEY_FLAGS", "NON_KEY_FLAGS", "Sample", "TrackRun", "fragment"]

# sample_flags (8.8.3.1): is_leading 0, depends_on, is_depended_on, has_redundancy 0,
# padding 0, is_non_sync_sample, degradation_priority 0
KEY_FLAGS = 0x02000000  # depends on no other sample: a sync sample
NON_KEY_FLAGS = 0x01010000  # depends on others, not a sync sample

_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_TRUN_DATA_OFFSET = 0x000001
_TRUN_DURATION = 0x000100
_TRUN_SIZE = 0x000200
_TRUN_FLAGS = 0x000400
_TRUN_COMPOSITION = 0x000800

# traf, tfhd, tfdt (version 1) and the trun header, packed at once: a live viewer
# gets a fragment per frame, so this is the per-frame cost that matters
_TRAF_HEAD = struct.Struct(
    ">I4s"  # traf: size, type
    "I4sII"  # tfhd: size 16, type, version 0 + flags, track_ID
    "I4sIQ"  # tfdt: size 20, type, version 1 + flags 0, baseMediaDecodeTime
    "I4sIIi"  # trun: size, type, version 1 + flags, sample_count, data_offset
)
_TRUN_OFFSET_IN_TRAF = 8 + 16 + 20
_MOOF_HEAD = struct.Struct(">I4sI4sII")  # moof size/type, mfhd: size 16, type, 0, sequence
_MDAT_HEAD = struct.Struct(">I4s")


class Sample(NamedTuple):
    """One sample of a run. Times in the track's timescale."""

    size: int  # bytes in mdat
    duration: int  # decode duration: next sample's dts - this dts
    keyframe: bool = True  # a sync sample (every AAC frame is one)
    composition_offset: int = 0  # pts - dts, may be negative (trun version 1)

    @property
    def flags(self) -> int:
        return KEY_FLAGS if self.keyframe else NON_KEY_FLAGS


class TrackRun(NamedTuple):
    """The samples of one track in one fragment, and their payloads in the same order."""

    track_id: int
    base_decode_time: int  # decode time of the first sample (tfdt)
    samples: Sequence[Sample]
    payloads: Sequence[bytes]


def _with_offsets(samples: Sequence[Sample]) -> bool:
    return any(s.composition_offset for s in samples)


def _traf_size(samples: Sequence[Sample]) -> int:
    per_sample = 16 if _with_offsets(samples) else 12
    return _TRAF_HEAD.size + per_sample * len(samples)


def _traf(run: TrackRun, data_offset: int) -> bytes:
    """traf with tfhd (default-base-is-moof), tfdt v1 and trun v1 (data offset,
    per-sample duration, size, flags and, if any is non-zero, composition offset)."""
    samples = run.samples
    flags = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS
    values: list[int] = []
    if _with_offsets(samples):
        flags |= _TRUN_COMPOSITION
        fmt = "IIIi"
        for s in samples:
            values += (s.duration, s.size, s.flags, s.composition_offset)
    else:
        fmt = "III"
        for s in samples:
            values += (s.duration, s.size, s.flags)
    table = struct.pack(">" + fmt * len(samples), *values)
    size = _TRAF_HEAD.size + len(table)
    head = _TRAF_HEAD.pack(
        size, b"traf",
        16, b"tfhd", _TFHD_DEFAULT_BASE_IS_MOOF, run.track_id,
        20, b"tfdt", 1 << 24, run.base_decode_time,
        size - _TRUN_OFFSET_IN_TRAF, b"trun", (1 << 24) | flags, len(samples), data_offset,
    )
    return head + table


def _check(run: TrackRun) -> None:
    if len(run.samples) != len(run.payloads):
        raise ValueError(f"track {run.track_id}: {len(run.samples)} samples, "
                         f"{len(run.payloads)} payloads")
    for sample, payload in zip(run.samples, run.payloads, strict=True):
        if sample.size != len(payload):
            raise ValueError(f"track {run.track_id}: sample size {sample.size}, "
                             f"payload {len(payload)} bytes")
    if run.base_decode_time < 0:
        raise ValueError(f"track {run.track_id}: negative decode time {run.base_decode_time}")


def fragment(sequence: int, tracks: Sequence[TrackRun | tuple[int, int, Sequence[Sample],
                                                               Sequence[bytes]]]) -> bytes:
    """``moof`` + ``mdat`` for the given runs (tracks without samples are left out).

    ``sequence`` is the fragment's sequence number (mfhd), counting from 1 in a
    file. Sizes and data offsets are computed first, so the boxes are built once.
    ValueError when a sample's size does not match its payload.
    """
    runs = [TrackRun(*t) for t in tracks if t[2]]
    if not runs:
        raise ValueError("a fragment needs at least one sample")
    for run in runs:
        _check(run)
    moof_size = _MOOF_HEAD.size + sum(_traf_size(r.samples) for r in runs)
    offset = moof_size + 8  # first payload byte: after the moof and the mdat header
    parts = [_MOOF_HEAD.pack(moof_size, b"moof", 16, b"mfhd", 0, sequence)]
    for run in runs:
        parts.append(_traf(run, offset))
        offset += sum(s.size for s in run.samples)
    mdat_size = offset - moof_size
    parts.append(_MDAT_HEAD.pack(mdat_size, b"mdat"))
    for run in runs:
        parts.extend(run.payloads)
    return b"".join(parts)
