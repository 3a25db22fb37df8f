"""Darkroom: a self-hosted image generation server that speaks OpenAI's Image API."""

__version__ = "0.1.0"
