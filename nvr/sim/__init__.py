"""Simulated IP cameras: an RTSP server playing a PyAV-encoded test pattern.

server = SimServer(cameras=[SimCamera("cam1", width=320, height=240, audio=True)])
await server.start()
server.url("cam1")          # rtsp://127.0.0.1:<port>/cam1
server.fault("cam1").stall(3)
await server.stop()
"""

from nvr.sim.faults import CameraFaults
from nvr.sim.server import SimCamera, SimServer

__all__ = ["CameraFaults", "SimCamera", "SimServer"]
