"""Reflector fixtures: the sample campaign's plans, made once per session."""

from __future__ import annotations

import pytest
from reflector_sample import Sample, build_sample


@pytest.fixture(scope="session")
def sample() -> Sample:
    return build_sample()
