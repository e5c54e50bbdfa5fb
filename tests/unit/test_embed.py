"""The embedded server's settings: what it accepts and what needs processes."""

import pytest

from granian.errors import ConfigurationError
from granian.server.embed import Server, embed_config


async def app(scope, receive, send):
    pass


def test_defaults_for_one_in_process_worker():
    config = embed_config(app, interface='asgi', port=0)
    assert (config.interface, config.workers, config.backlog, config.port) == ('asgi', 1, 128, 0)
    assert config.target == f'{__name__}:app'
    assert embed_config(app, backlog=512).backlog == 512


@pytest.mark.parametrize(
    ('kwargs', 'option'),
    [
        ({'interface': 'wsgi'}, 'interface'),
        ({'workers': 2}, 'workers'),
        ({'reload': True}, 'reload'),
        ({'workers_max_rss': 100}, 'workers_max_rss'),
        ({'workers_lifetime': 3600}, 'workers_lifetime'),
        ({'limit_max_requests': 100}, 'limit_max_requests'),
        ({'respawn_failed_workers': True}, 'respawn_failed_workers'),
        ({'metrics_enabled': True}, 'metrics_enabled'),
        ({'pid_file': '/tmp/x.pid'}, 'pid_file'),
        ({'process_name': 'web'}, 'process_name'),
    ],
)
def test_settings_that_need_processes_are_rejected(kwargs, option):
    with pytest.raises(ConfigurationError) as info:
        Server(app, **kwargs)
    assert info.value.option == option
    assert 'not available in the embedded server' in str(info.value)


def test_their_defaults_are_fine():
    Server(app, workers=1, reload=False, respawn_failed_workers=False, workers_max_rss=None)


def test_other_settings_are_validated_as_usual():
    with pytest.raises(ConfigurationError, match='backpressure'):
        Server(app, backpressure=0)


def test_reload_and_stop_before_serving_are_harmless():
    server = Server(app)
    server.reload()
    server.stop()
