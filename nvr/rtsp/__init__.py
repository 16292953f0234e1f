"""RTSP camera client: RTP parsing, depacketizers, timestamp mapping."""
