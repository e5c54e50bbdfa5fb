"""A minimal Django project served over ASGI by the end-to-end tests (no database)."""
