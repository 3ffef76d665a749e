"""Request context as the policy sees it: a small one-hot vector and readable labels.

Kept deliberately coarse (platform, device, daypart): contexts must recur often enough for
a bandit to learn per context, and nothing sensitive about the user goes in.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

PLATFORMS = ("feed", "stories", "reels", "shorts", "instream", "ctv")
DEVICES = ("mobile", "desktop", "tablet", "ctv")
DAYPARTS = ("night", "morning", "afternoon", "evening")
DIMS = 1 + len(PLATFORMS) + 1 + len(DEVICES) + 1 + len(DAYPARTS)

_CACHE: dict[tuple[str, str, str], np.ndarray] = {}


def daypart(ts: datetime) -> str:
    return DAYPARTS[ts.hour // 6]


def _slot(value: str, names: tuple[str, ...]) -> int:
    """Index of ``value`` in ``names``; unknown values share the slot after them."""
    try:
        return names.index(value)
    except ValueError:
        return len(names)


def vector(platform: str, device: str, part: str) -> np.ndarray:
    """Feature vector: constant 1, then one-hot platform, device and daypart (read-only)."""
    key = (platform, device, part)
    x = _CACHE.get(key)
    if x is None:
        x = np.zeros(DIMS)
        x[0] = 1.0
        offset = 1
        for value, names in ((platform, PLATFORMS), (device, DEVICES), (part, DAYPARTS)):
            x[offset + _slot(value, names)] = 1.0
            offset += len(names) + 1
        x.setflags(write=False)
        if len(_CACHE) < 4096:
            _CACHE[key] = x
    return x
