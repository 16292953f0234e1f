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

from nvr.fmp4.boxes import box, full_box, u32, u64

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

_MFHD_SIZE = 16
_TFHD_SIZE = 16
_TFDT_SIZE = 20  # version 1
_TRUN_HEADER_SIZE = 20  # full box header, sample_count, data_offset
_TRAF_HEADER_SIZE = 8


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


def _trun(samples: Sequence[Sample], data_offset: int) -> bytes:
    with_offsets = any(s.composition_offset for s in samples)
    flags = _TRUN_DATA_OFFSET | _TRUN_DURATION | _TRUN_SIZE | _TRUN_FLAGS
    values: list[int] = []
    if with_offsets:
        flags |= _TRUN_COMPOSITION
        fmt = "IIIi"
        for s in samples:
            values += (s.duration, s.size, s.flags, s.composition_offset)
    else:
        fmt = "III"
        for s in samples:
            values += (s.duration, s.size, s.flags)
    table = struct.pack(">" + fmt * len(samples), *values)
    return full_box(b"trun", 1, flags, u32(len(samples)), data_offset.to_bytes(4, "big",
                                                                             signed=True), table)


def _trun_size(samples: Sequence[Sample]) -> int:
    per_sample = 16 if any(s.composition_offset for s in samples) else 12
    return _TRUN_HEADER_SIZE + per_sample * len(samples)


def _traf(run: TrackRun, data_offset: int) -> bytes:
    tfhd = full_box(b"tfhd", 0, _TFHD_DEFAULT_BASE_IS_MOOF, u32(run.track_id))
    tfdt = full_box(b"tfdt", 1, 0, u64(run.base_decode_time))
    return box(b"traf", tfhd, tfdt, _trun(run.samples, data_offset))


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
    traf_sizes = [_TRAF_HEADER_SIZE + _TFHD_SIZE + _TFDT_SIZE + _trun_size(r.samples)
                  for r in runs]
    moof_size = 8 + _MFHD_SIZE + sum(traf_sizes)
    offset = moof_size + 8  # first payload byte: after the moof and the mdat header
    trafs = []
    for run in runs:
        trafs.append(_traf(run, offset))
        offset += sum(s.size for s in run.samples)
    moof = box(b"moof", full_box(b"mfhd", 0, 0, u32(sequence)), *trafs)
    assert len(moof) == moof_size, "moof size miscomputed"
    mdat_size = offset - moof_size
    parts = [moof, mdat_size.to_bytes(4, "big"), b"mdat"]
    for run in runs:
        parts.extend(run.payloads)
    return b"".join(parts)
