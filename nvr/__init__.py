"""nvr: a network video recorder for IP cameras."""

__version__ = "0.1.0"
