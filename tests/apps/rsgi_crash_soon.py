"""An RSGI app whose worker serves, then dies `$CRASH_AFTER` seconds later (exit code 3)."""

import os


class App:
    def __rsgi_init__(self, loop):
        loop.call_later(float(os.environ.get('CRASH_AFTER', '0.5')), os._exit, 3)

    async def __rsgi__(self, scope, protocol):
        protocol.response_str(200, [('content-type', 'text/plain')], 'about to crash')


app = App()
