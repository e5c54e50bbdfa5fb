"""An app built by a factory (`--factory rsgi_factory:create_app`)."""


def create_app():
    async def app(scope, protocol):
        protocol.response_str(200, [('content-type', 'text/plain')], 'made by the factory')

    return app


async def app(scope, protocol):
    protocol.response_str(500, [('content-type', 'text/plain')], 'the factory was not called')
