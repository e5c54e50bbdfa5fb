"""The recycling schedule (`--workers-lifetime`, `--workers-max-rss`) with a fake clock and memory."""

import os

import pytest

from granian.server.recycle import Recycler, read_rss_mib


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_nothing_to_do_without_limits(clock):
    recycler = Recycler(None, None, clock=clock)
    assert not recycler.active
    recycler.track('w1', 1)
    assert recycler.next_deadline() is None
    clock.now += 1e6
    assert recycler.due() == []


def test_a_worker_is_due_when_its_lifetime_is_over(clock):
    recycler = Recycler(60, None, clock=clock)
    recycler.track('w1', 1)
    clock.now += 20
    recycler.track('w2', 2)
    assert recycler.next_deadline() == 1060
    clock.now = 1059.9
    assert recycler.due() == []
    clock.now = 1060
    (due,) = recycler.due()
    assert (due.key, due.reason) == ('w1', 'lifetime')
    assert due.detail == 'it reached its lifetime of 60s'
    assert 'w1' not in recycler, 'a due worker is handed over once'
    assert recycler.next_deadline() == 1080
    clock.now = 1200
    assert [d.key for d in recycler.due()] == ['w2']
    assert recycler.next_deadline() is None


def test_tracking_again_restarts_the_lifetime(clock):
    recycler = Recycler(60, None, clock=clock)
    recycler.track('w1', 1)
    clock.now += 60
    assert [d.key for d in recycler.due()] == ['w1']
    recycler.track('w1', 1)  # its replacement failed: it serves on
    assert recycler.next_deadline() == clock.now + 60


def test_forgotten_workers_are_never_due(clock):
    recycler = Recycler(60, 100, sample_interval=1, clock=clock, read_rss=lambda pid: 500)
    recycler.track('w1', 1)
    recycler.forget('w1')
    clock.now += 100
    assert recycler.due() == []
    assert recycler.next_deadline() is None


def test_memory_is_sampled_every_interval_and_needs_consecutive_samples(clock):
    memory = {1: 90.0, 2: 90.0}
    recycler = Recycler(None, 100, sample_interval=5, samples=2, clock=clock, read_rss=memory.get)
    recycler.track('w1', 1)
    recycler.track('w2', 2)
    assert recycler.next_deadline() == 1005
    memory[1] = 150.0
    clock.now = 1005
    assert recycler.due() == []  # first sample above the limit
    memory[2] = 150.0
    clock.now = 1010
    (due,) = recycler.due()
    assert (due.key, due.reason) == ('w1', 'rss')
    assert due.detail == 'it uses 150 MiB, above the limit of 100 MiB in 2 samples in a row'
    memory[2] = 99.0  # back under the limit: the count starts again
    clock.now = 1015
    assert recycler.due() == []
    memory[2] = 150.0
    clock.now = 1020
    assert recycler.due() == []
    clock.now = 1025
    assert [d.key for d in recycler.due()] == ['w2']


def test_a_single_sample_is_enough_by_default(clock):
    recycler = Recycler(None, 100, sample_interval=1, clock=clock, read_rss=lambda pid: 101.0)
    recycler.track('w1', 1)
    clock.now += 1
    (due,) = recycler.due()
    assert due.detail == 'it uses 101 MiB, above the limit of 100 MiB'


def test_a_gone_process_is_not_counted(clock):
    recycler = Recycler(None, 100, sample_interval=1, clock=clock, read_rss=lambda pid: None)
    recycler.track('w1', 1)
    clock.now += 1
    assert recycler.due() == []


def test_sampling_keeps_its_cadence_and_skips_missed_rounds(clock):
    recycler = Recycler(None, 100, sample_interval=10, clock=clock, read_rss=lambda pid: 1.0)
    recycler.track('w1', 1)
    clock.now = 1010.5
    recycler.due()
    assert recycler.next_deadline() == 1020
    clock.now = 1100  # a long pause: one sample, then every 10 s from now
    recycler.due()
    assert recycler.next_deadline() == 1110


def test_lifetime_and_memory_together_report_a_worker_once(clock):
    recycler = Recycler(60, 100, sample_interval=60, clock=clock, read_rss=lambda pid: 500.0)
    recycler.track('w1', 1)
    clock.now += 60
    assert [(d.key, d.reason) for d in recycler.due()] == [('w1', 'lifetime')]


@pytest.mark.skipif(not os.path.exists('/proc/self/status'), reason='needs /proc')
def test_read_rss_of_this_process():
    rss = read_rss_mib(os.getpid())
    assert rss is not None and rss > 1
    assert read_rss_mib(2**22 + 12345) is None
