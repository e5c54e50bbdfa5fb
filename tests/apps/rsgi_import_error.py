"""A module whose import fails: the server must show the traceback."""


def explode():
    raise RuntimeError('import-time failure marker')


explode()


async def app(scope, protocol):
    protocol.response_str(200, [], 'unreachable')
