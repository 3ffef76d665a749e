"""Ordered schema revisions; each is frozen once released and never edited."""
