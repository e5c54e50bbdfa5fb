"""RSGI WebSocket echo app for benchmarks/ws_echo.py.

ws: accept, then send back every message with its own type until the client closes.
http: 200 'ok' (readiness probes).
"""

TEXT = [('content-type', 'text/plain')]


class App:
    async def __rsgi__(self, scope, protocol):
        if scope.proto == 'ws':
            t = await protocol.accept()
            while True:
                m = await t.receive()
                if m.kind == 0:
                    return
                if m.kind == 1:
                    await t.send_bytes(m.data)
                else:
                    await t.send_str(m.data)
        protocol.response_str(200, TEXT, 'ok')


app = App()
