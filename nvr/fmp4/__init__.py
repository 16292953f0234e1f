"""Fragmented MP4 (ISO BMFF) writing, sans I/O: bytes in, bytes out.

Used by the recorder (one fragment per GOP, appended to a file) and meant for
live viewers (a fragment per frame, sent to a browser's SourceBuffer). Imports
only ``nvr.codec`` and ``nvr.feed``. See docs/design/fmp4.md.

* :func:`init_segment` — ``ftyp`` + ``moov`` for a video track and optional AAC;
* :func:`fragment` — ``moof`` + ``mdat`` from :class:`TrackRun` s of :class:`Sample` s;
* :class:`TrackQueue` — pts/dts → decode times, durations, shifted composition offsets;
* :func:`codec_string` — the RFC 6381 codec string MSE asks for;
* :class:`LiveMuxer` — feed access units → one fragment per frame for a browser.
"""

from nvr.fmp4.codecs import codec_string
from nvr.fmp4.fragment import Sample, TrackRun, fragment
from nvr.fmp4.init import AUDIO_TRACK, VIDEO_TRACK, audio_timescale, init_segment
from nvr.fmp4.live import LiveMuxer
from nvr.fmp4.track import TrackQueue

__all__ = ["AUDIO_TRACK", "VIDEO_TRACK", "LiveMuxer", "Sample", "TrackQueue", "TrackRun",
           "audio_timescale", "codec_string", "fragment", "init_segment"]
