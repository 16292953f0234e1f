"""Live view: a Feed as the message stream a browser's MediaSource player reads."""

from nvr.live.stream import LiveStream, Status

__all__ = ["LiveStream", "Status"]
