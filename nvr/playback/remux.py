"""Recorded fragments onto a new timeline: rewritten in place, or rebuilt from samples.

A recorded fragment (``moof``+``mdat``, offsets relative to its own ``moof``) can be
sent on as it is, with two fields changed: the ``mfhd`` sequence number and each
track's ``tfdt`` decode time (:func:`retime`). Everything else (sample tables,
composition offsets, media bytes) is the recording's own, so that is the common,
cheap path. When part of a fragment must go (playback starting at a keyframe inside
it, audio overlapping the previous segment's, a fragment cut short by a crash) or a
fragment cannot be patched, :func:`rebuild` writes a new one with
:func:`nvr.fmp4.fragment` from the samples that stay.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from nvr.fmp4.fragment import Sample as OutSample
from nvr.fmp4.fragment import TrackRun, fragment
from nvr.playback.reader import Fragment, Sample

__all__ = ["Piece", "rebuild", "retime", "samples_of"]

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def retime(data: bytes, frag: Fragment, sequence: int, decode_times: dict[int, int]
           ) -> bytes | None:
    """The fragment's bytes with a new sequence number and, per track, a new decode time
    of its first sample; None when it cannot be patched (then :func:`rebuild`)."""
    if not frag.patchable or frag.sequence_at is None or frag.tfdt_at is None:
        return None
    if set(decode_times) != set(frag.tfdt_at):
        return None
    out = bytearray(data)
    _U32.pack_into(out, frag.sequence_at, sequence)
    for track_id, (position, width) in frag.tfdt_at.items():
        value = decode_times[track_id]
        if value < 0 or (width == 4 and value > 0xFFFFFFFF):
            return None
        (_U64 if width == 8 else _U32).pack_into(out, position, value)
    return bytes(out)


def samples_of(frag: Fragment, track_id: int) -> list[Sample]:
    """The track's samples in the fragment, in decode order."""
    return [s for run in frag.track(track_id) for s in run.samples()]


class Piece:
    """Samples of one track for a rebuilt fragment, with where their bytes are."""

    __slots__ = ("decode_time", "samples", "track_id")

    def __init__(self, track_id: int, decode_time: int, samples: Sequence[Sample]) -> None:
        self.track_id = track_id
        self.decode_time = decode_time  # the new decode time of the first sample
        self.samples = samples


def rebuild(sequence: int, pieces: Sequence[Piece], data: bytes, data_offset: int,
            durations: dict[int, list[int]] | None = None,
            key_only: bool = False) -> bytes | None:
    """A new fragment from the pieces' samples; their bytes are read from ``data``, which
    holds the file from ``data_offset`` on. ``durations`` replaces a track's sample
    durations (trick play stretches them); ``key_only`` makes every video sample a sync
    sample shown at its decode time. None when nothing is left."""
    runs = []
    for piece in pieces:
        if not piece.samples:
            continue
        new = (durations or {}).get(piece.track_id)
        samples, payloads = [], []
        for i, s in enumerate(piece.samples):
            start = s.offset - data_offset
            payloads.append(data[start : start + s.size])
            duration = new[i] if new is not None else s.duration
            samples.append(OutSample(s.size, duration, s.keyframe or key_only,
                                     0 if key_only else s.composition_offset))
        runs.append(TrackRun(piece.track_id, piece.decode_time, samples, payloads))
    return fragment(sequence, runs) if runs else None
