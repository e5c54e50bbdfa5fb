"""An app whose import fails in its own code, one module down: `load_settings()` (called at
import time) reads a name that does not exist. The server must show one summary line and the
frames of this file and of `import_name_error_settings.py`, not those of importlib."""

from import_name_error_settings import load_settings

SETTINGS = load_settings()


async def app(scope, protocol):
    protocol.response_str(200, [], 'unreachable')
