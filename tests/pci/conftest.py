from __future__ import annotations

from pathlib import Path

import pytest
from tests.pci.helpers import tiny_host

from adloom.director.host import EmbeddedHostAnalyzer, EmbeddedHostAnalyzerConfig
from adloom.domain import HostAnalysis


@pytest.fixture(scope="session")
def host_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_host(tmp_path_factory.mktemp("host") / "host.mp4")


@pytest.fixture(scope="session")
def host(host_video: Path) -> HostAnalysis:
    return EmbeddedHostAnalyzer(EmbeddedHostAnalyzerConfig()).analyze(host_video)
