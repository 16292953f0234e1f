"""Motion detection: analysed grayscale frames from a feed, a background model, events.

No runtime wiring, database or web here (a protocol package): ``sampler``
decodes a feed's access units into small grayscale frames, ``detector``
finds motion in them, turns it into events and keeps the coarse per-second
grid for motion search.
"""
