"""Authentication adapters: JWT verification (PyJWT) and request-rate counting (`limits`)."""
