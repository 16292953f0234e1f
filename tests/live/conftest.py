"""The live tests reuse the fMP4 tests' encoded media helpers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fmp4"))
