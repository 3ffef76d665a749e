"""Producer: realize a CreativePlan as a real creative (video or image)."""

from adloom.producer.base import Renderer

__all__ = ["Renderer"]
