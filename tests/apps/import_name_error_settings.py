"""Imported by `import_name_error.py`: fails with a NameError when called."""


def load_settings():
    return {'debug': DEBUG_FLAG}  # noqa: F821 (the failure under test)
