"""A minimal Django project served over WSGI by the end-to-end tests (no database)."""
