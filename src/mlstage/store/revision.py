"""The schema revision this code needs; its own module so readers can check it without
importing SQLAlchemy or Alembic (``models/sqlite_lookup.py``)."""

HEAD_REVISION = "0016"
"""The newest revision in migrations/versions; a test keeps it equal to Alembic's head."""
