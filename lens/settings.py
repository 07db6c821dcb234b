"""The Lens's settings: config's `[lens]` struct, taken as it is, and the verdict sources."""

from __future__ import annotations

from typing import Literal

from config.lens import LensSettings

# Where a verdict's tests came from; each has a weight in LensSettings (`<source>_weight`).
TestSource = Literal["request", "prompt", "generated"]

__all__ = ["LensSettings", "TestSource"]
