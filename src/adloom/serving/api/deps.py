"""Dependencies shared by the routers: the server and the calling advertiser."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from adloom.serving.catalog import key_hash
from adloom.serving.engine import AdServer
from adloom.store import Advertiser

bearer = HTTPBearer(auto_error=False, description="The advertiser's API key.")


async def get_server(request: Request) -> AdServer:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    hop per request that would cost more than the whole decision."""
    server: AdServer = request.app.state.server
    return server


Server = Annotated[AdServer, Depends(get_server)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def current_advertiser(server: Server, creds: Credentials) -> Advertiser:
    """The advertiser whose API key signed the request; 401 otherwise."""
    if creds is None or not creds.credentials:
        raise HTTPException(401, "missing API key (Authorization: Bearer <key>)")
    digest = key_hash(creds.credentials)
    adv = server.catalog.snapshot.by_key.get(digest)
    if adv is None:
        server.catalog.refresh_if_older(1.0)  # a key minted elsewhere since the last refresh
        adv = server.catalog.snapshot.by_key.get(digest)
    if adv is None:
        raise HTTPException(401, "unknown API key")
    return adv


def require_admin(server: Server, creds: Credentials) -> None:
    admin = server.settings.admin_key
    if admin is None:
        raise HTTPException(403, "advertiser creation is disabled (no admin_key configured)")
    if creds is None or not hmac.compare_digest(creds.credentials.encode(), admin.encode()):
        raise HTTPException(401, "admin key required")


CurrentAdvertiser = Annotated[Advertiser, Depends(current_advertiser)]
