"""The log ingest's tables on SQLite, PostgreSQL and MySQL/MariaDB: dead letters
(ports/logs.py) and the embedded stream `logs.raw` (ports/streams.py)."""
