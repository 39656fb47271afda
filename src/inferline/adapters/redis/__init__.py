"""Redis adapters: job queue and event bus on Redis Streams (and the result cache)."""
