"""AAC over RTP: RFC 3640 ``mpeg4-generic`` (modes AAC-hbr and AAC-lbr).

A packet is: AU-headers-length (16 bits, counted in bits), the AU headers
(``sizelength`` bits of AU size + ``indexlength`` bits of AU index for the
first, ``indexdeltalength`` bits for the following ones), padding to a byte,
then the AUs back to back. AU *i* of a packet has timestamp
``rtp_ts + i * frame_length`` (1024 samples, 960 when the config says so).

Not supported (counted in ``errors``, never raised): AUs fragmented over
several packets (cameras do not send AAC frames larger than a packet at these
bitrates), interleaving (index deltas are ignored), auxiliary data sections.
"""

from __future__ import annotations

from collections.abc import Mapping

from nvr.codec.aac import parse_audio_config
from nvr.rtsp.depacketize import AudioFrame, RtpLike, normalize_fmtp

__all__ = ["AacDepacketizer", "AudioFrame"]

class AacDepacketizer:
    """RTP payloads → raw AAC frames.

    ``fmtp`` keys are case-insensitive; ``config`` (hex AudioSpecificConfig)
    gives ``sample_rate``, ``channels`` and ``frame_length``. A malformed
    ``config`` or size parameter raises ValueError here (set-up time);
    packets never raise.
    """

    codec = "aac"

    def __init__(self, fmtp: Mapping[str, str] | None = None) -> None:
        fm = normalize_fmtp(fmtp)
        self.errors = 0
        self.lost = 0
        self.frames = 0
        self._seq = -1
        mode = fm.get("mode", "").lower()
        default = (13, 3, 3) if mode == "aac-hbr" else (6, 2, 2) if mode == "aac-lbr" else (0, 0, 0)
        try:
            self.sizelength = int(fm.get("sizelength", default[0]))
            self.indexlength = int(fm.get("indexlength", default[1]))
            self.indexdeltalength = int(fm.get("indexdeltalength", default[2]))
        except ValueError as exc:
            raise ValueError(f"AAC fmtp: bad size parameter: {exc}") from None
        if not (0 <= self.sizelength <= 32 and 0 <= self.indexlength <= 32):
            raise ValueError(f"AAC fmtp: sizelength {self.sizelength} out of range")
        if not 0 <= self.indexdeltalength <= 32:
            raise ValueError(f"AAC fmtp: indexdeltalength {self.indexdeltalength} out of range")
        config_hex = fm.get("config", "")
        try:
            self.config = bytes.fromhex(config_hex)
        except ValueError:
            raise ValueError(f"AAC fmtp: config is not hex: {config_hex!r}") from None
        self.sample_rate = self.channels = 0
        self.frame_length = 1024
        if self.config:
            asc = parse_audio_config(self.config)
            self.sample_rate, self.channels, self.frame_length = asc[1:]
        self._hbr = (self.sizelength, self.indexlength, self.indexdeltalength) == (13, 3, 3)

    def push(self, pkt: RtpLike) -> list[AudioFrame]:
        """Feed one RTP packet; returns the AAC frames it carried."""
        return self.push_payload(pkt.seq, pkt.ts, pkt.marker, pkt.payload)

    def push_payload(self, seq: int, ts: int, marker: bool, p: bytes) -> list[AudioFrame]:
        out: list[AudioFrame] = []
        last = self._seq
        if last >= 0:
            d = (seq - last - 1) & 0xFFFF
            if d:
                if d < 0x8000:
                    self.lost += d
                elif 0x10000 - d <= 100:
                    return out  # late or duplicate
        self._seq = seq
        n = len(p)
        sl = self.sizelength
        if sl == 0 and self.indexlength == 0:  # no AU headers: one AU per packet
            if n:
                out.append(AudioFrame(ts, p))
                self.frames += 1
            else:
                self.errors += 1
            return out
        if n < 2:
            self.errors += 1
            return out
        header_bits = (p[0] << 8) | p[1]
        off = 2 + ((header_bits + 7) >> 3)
        if header_bits == 0 or off > n:
            self.errors += 1
            return out
        sizes: list[int]
        if self._hbr:
            if header_bits & 15:
                self.errors += 1
                return out
            sizes = [(p[i] << 5) | (p[i + 1] >> 3) for i in range(2, off, 2)]
        else:
            total = (off - 2) * 8
            value = int.from_bytes(p[2:off], "big")
            pos = 0
            il = self.indexlength
            sizes = []
            mask = (1 << sl) - 1
            while pos + sl + il <= header_bits:
                sizes.append((value >> (total - pos - sl)) & mask)
                pos += sl + il
                il = self.indexdeltalength
        frame_length = self.frame_length
        for i, size in enumerate(sizes):
            end = off + size
            if size == 0 or end > n:
                # A fragmented AU (larger than the packet) or a broken header.
                self.errors += 1
                break
            out.append(AudioFrame(ts + i * frame_length, p[off:end]))
            off = end
        self.frames += len(out)
        return out
