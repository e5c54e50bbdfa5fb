"""An RSGI app that takes a while to import (`$SLOW_IMPORT_SECONDS`, default 1): the server must
not say it is ready before every worker has loaded it."""

import os
import time

time.sleep(float(os.environ.get('SLOW_IMPORT_SECONDS', '1')))


async def app(scope, protocol):
    protocol.response_str(200, [('content-type', 'text/plain')], 'ok')
