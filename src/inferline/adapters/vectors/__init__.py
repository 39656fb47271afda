"""Vector index adapters: the embedded exact NumPy index (pgvector and Milvus can follow)."""
