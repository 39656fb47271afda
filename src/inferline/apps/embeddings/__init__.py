"""Source S3 (embeddings): embed texts, compare them, and the model's health and statistics."""

from inferline.apps.embeddings.routes import router

__all__ = ["router"]
