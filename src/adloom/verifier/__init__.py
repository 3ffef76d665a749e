"""Verifier: the utility-and-compliance gatekeeper; every creative gets a Verdict."""

from adloom.verifier.base import Verifier

__all__ = ["Verifier"]
