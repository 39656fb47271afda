"""The recommendation app's store (ports/recsys.py) on SQLite, PostgreSQL and MySQL/MariaDB."""
