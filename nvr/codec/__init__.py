"""Codec helpers shared by every protocol and consumer (RTSP, RTMP, fMP4, live view).

Pure functions on bytes: parameter-set parsing (``sps``), the AAC
AudioSpecificConfig (``aac``), NAL framing (``nal``: Annex-B and AVCC/HVCC).
Imports nothing else from nvr.
"""
