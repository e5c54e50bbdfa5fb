"""granian: an HTTP server for Python applications (ASGI, RSGI, WSGI) with a Rust network core.

Importing this package is cheap: it never loads the compiled extension `granian._granian`;
only worker processes do.
"""

from granian._version import __version__
from granian.server import Granian

__all__ = ['Granian', '__version__']
