"""An RSGI app object with `__rsgi__` and the per-worker hooks.

Each hook appends one line to `<E2E_HOOKS_DIR>/<hook>-<pid>` telling whether the loop was
running, so the test can check that each hook ran exactly once per worker, outside the loop.
"""

import os


def record(kind, loop):
    directory = os.environ['E2E_HOOKS_DIR']
    with open(os.path.join(directory, f'{kind}-{os.getpid()}'), 'a') as file:
        file.write(f'running={loop.is_running()}\n')


class App:
    def __rsgi_init__(self, loop):
        record('init', loop)

    def __rsgi_del__(self, loop):
        record('del', loop)

    async def __rsgi__(self, scope, protocol):
        protocol.response_str(200, [('content-type', 'text/plain')], f'rsgi {os.getpid()}')

    async def __call__(self, scope, protocol):
        protocol.response_str(500, [('content-type', 'text/plain')], '__call__ used instead of __rsgi__')


app = App()
