"""Source-system apps: each package serves one source system's features on the platform."""
