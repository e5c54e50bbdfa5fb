"""`--pid-file`: written at start, refused when another live process owns it, removed at exit."""

import os
import subprocess
import sys

import pytest

from granian.errors import PidFileError
from granian.server.pidfile import PidFile, pid_alive


def dead_pid():
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    return proc.pid


def test_writes_our_pid_and_removes_it(tmp_path):
    path = tmp_path / 'g.pid'
    pidfile = PidFile.create(path)
    assert path.read_text() == f'{os.getpid()}\n'
    assert not list(tmp_path.glob('*.tmp'))
    pidfile.remove()
    assert not path.exists()


def test_refuses_a_file_of_another_live_process(tmp_path):
    path = tmp_path / 'g.pid'
    path.write_text(f'{os.getppid()}\n')
    with pytest.raises(PidFileError, match=r'holds the PID \d+ of a running process: is granian already running'):
        PidFile.create(path)
    assert path.read_text() == f'{os.getppid()}\n'


@pytest.mark.parametrize('content', ['{dead}\n', 'garbage', '', '{own}'])
def test_replaces_a_stale_file(tmp_path, content):
    path = tmp_path / 'g.pid'
    path.write_text(content.format(dead=dead_pid(), own=os.getpid()))
    PidFile.create(path).remove()
    assert not path.exists()


def test_never_removes_a_file_that_someone_else_rewrote(tmp_path):
    path = tmp_path / 'g.pid'
    pidfile = PidFile.create(path)
    path.write_text('1\n')
    pidfile.remove()
    assert path.read_text() == '1\n'


def test_an_unwritable_location_is_a_startup_error(tmp_path):
    with pytest.raises(PidFileError, match='cannot write the pid file'):
        PidFile.create(tmp_path / 'missing-dir' / 'g.pid')


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)
