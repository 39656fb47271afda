"""Blob store adapters: a folder (embedded default) and an S3-compatible bucket."""
