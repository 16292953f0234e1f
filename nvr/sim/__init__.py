"""Simulated IP cameras: an RTSP server playing a PyAV-encoded test pattern.

server = SimServer(cameras=[SimCamera("cam1", width=320, height=240, audio=True)])
await server.start()
server.url("cam1")          # rtsp://127.0.0.1:<port>/cam1
server.fault("cam1").stall(3)
await server.stop()

`SimCamera(scene=...)` shows a scripted scene instead of the test pattern
(`scenes`: known motion at known times since PLAY, for motion tests).

Cameras can misbehave like real ones: `SimCamera` fields fix what a camera does
from the start (malformed SDP, noise, refused transports, RTP in the PLAY
reply's write, H.265 open GOPs with B-frames, a slow clock), `CameraFaults`
methods switch faults at run time (stalls, garbage frames, oversized or lying
replies, a wedged RTSP server, RTCP BYE, disconnects). Modules: `server`
(listening, UDP sockets), `camera`, `connection` (RTSP requests), `session` (RTP
and RTCP sending), `auth`, `faults`, `quirks` (the broken bytes), `media`
(encoding), `scenes` (scripted scenes), `packetize` (RTP payloads, RTCP, SDP).
"""

from nvr.sim.faults import CameraFaults
from nvr.sim.server import SimCamera, SimServer

__all__ = ["CameraFaults", "SimCamera", "SimServer"]
