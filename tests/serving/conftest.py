"""Serving fixtures over :mod:`tests.serving.helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.serving.helpers import Catalog, build, seed_store, settings

from adloom.director.embeddings import HashingEmbedder
from adloom.director.template import TemplatePlanner
from adloom.domain import Campaign, User
from adloom.serving.app import create_app
from adloom.serving.engine import AdServer


@pytest.fixture(scope="session")
def planner() -> TemplatePlanner:
    return TemplatePlanner(embedder=HashingEmbedder())


@pytest.fixture
def catalog(
    planner: TemplatePlanner, campaign: Campaign, users: list[User], tmp_path: Path
) -> Catalog:
    return build(planner, campaign, users, tmp_path)


@pytest.fixture
def server(catalog: Catalog) -> Iterator[AdServer]:
    srv = AdServer.from_settings(settings())
    seed_store(srv.store, catalog)
    srv.start()
    yield srv
    srv.close()


@pytest.fixture
def client(server: AdServer) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(create_app(server=server)) as c:
        yield c
