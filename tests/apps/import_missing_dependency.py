"""An app importing a package that is not installed: its import line must be shown."""

import granian_test_dependency_that_is_not_installed  # noqa: F401


async def app(scope, protocol):
    protocol.response_str(200, [], 'unreachable')
