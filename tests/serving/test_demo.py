"""``adloom serve --demo`` end to end: render, verify, import, serve real videos."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.serving.helpers import settings

from adloom.domain import Campaign, User
from adloom.serving import demo
from adloom.serving.app import create_app
from adloom.serving.engine import AdServer

pytestmark = pytest.mark.slow


def test_demo_serves_the_verified_creatives(
    campaign: Campaign, users: list[User], tmp_path: Path
) -> None:
    import vastlint
    from fastapi.testclient import TestClient

    srv = AdServer.from_settings(settings())
    setup = demo.prepare(srv.store, tmp_path / "data", campaign=campaign, users=users)
    assert setup.accepted >= len(campaign.products)  # at least the generic creatives
    assert (tmp_path / "data" / "demo-api-key.txt").read_text().strip() == setup.api_key
    with TestClient(create_app(server=srv)) as client:
        r = client.get("/vast/4", params={"user_id": "hiker"})
        assert r.status_code == 200
        result = vastlint.validate(r.text)
        assert not [i for i in result.issues if i.severity == "error"], result.issues
        root = ET.fromstring(r.text)
        media = next(e.text for e in root.iter() if e.tag.endswith("MediaFile"))
        video = client.get(urlsplit((media or "").strip()).path)
        assert video.status_code == 200
        assert video.content[4:8] == b"ftyp"  # a real MP4 from the renderer
        auth = {"Authorization": f"Bearer {setup.api_key}"}
        listed = client.get(f"/v1/campaigns/{setup.campaign_id}/creatives", headers=auth).json()
        assert len(listed) == setup.creatives
        assert all(c["decision"] in {"accept", "revise", "reject"} for c in listed)
    srv.close()
    # a second start reuses the renders and the key
    again = AdServer.from_settings(settings())
    second = demo.prepare(again.store, tmp_path / "data", campaign=campaign, users=users)
    assert (second.api_key, second.creatives) == (setup.api_key, setup.creatives)
    again.close()
