"""Recorded video out: segment files read back (``reader``), played over a WebSocket
(``stream``) and exported as one MP4 (``export``). Sans database and web: callers
hand in the segments (paths and wall-clock times)."""
