"""Inferline: an asynchronous AI-inference platform."""

__version__ = "0.1.0"
