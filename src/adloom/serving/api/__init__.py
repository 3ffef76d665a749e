"""HTTP routers, one per resource; each is a thin layer over :class:`AdServer`."""
