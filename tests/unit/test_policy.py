"""The supervisor's decisions (`granian.server.policy`), driven by events with a fake clock and no process."""

import signal

import pytest

from granian.server.policy import CRASH_LOOP_WINDOW, Kill, Log, Policy, RunReloadHooks, Spawn, Terminate
from granian.server.recycle import Recycler

URL = 'http://127.0.0.1:8000'


class Driver:
    """Carries out a policy's actions as the supervisor would: PIDs from 100, logs as text."""

    def __init__(self, policy, now=1000.0):
        self.policy = policy
        self.now = now
        self.next_pid = 100
        self.spawn_fails = False
        self.hooks_ok = True
        self.actions = []

    def __call__(self):  # the clock, for a Recycler
        return self.now

    def run(self, actions):
        """Carry out one event's actions; returns them (logs as their text)."""
        done = []
        outcome = None
        while True:
            try:
                action = actions.send(outcome)
            except StopIteration:
                break
            outcome = None
            if isinstance(action, Spawn):
                if not self.spawn_fails:
                    outcome, self.next_pid = self.next_pid, self.next_pid + 1
            elif isinstance(action, RunReloadHooks):
                outcome = self.hooks_ok
            done.append(action.text if isinstance(action, Log) else action)
        self.actions.extend(done)
        return done

    # events
    def start(self):
        return self.run(self.policy.start(self.now))

    def ready(self, *pids):
        return [a for pid in pids for a in self.run(self.policy.ready(pid, self.now))]

    def exit(self, pid, code=0):
        self.policy.reaped(pid)
        return self.run(self.policy.exited(pid, code, self.now))

    def stop(self, interrupt=False):
        return self.run(self.policy.stop(self.now, interrupt))

    def timers(self):
        return self.run(self.policy.timers(self.now))

    def hup(self):
        self.policy.hup()
        return self.timers()

    def change(self):
        return self.run(self.policy.reload('Changes detected in app.py', 'change', self.now))

    def max_requests(self, pid):
        return self.run(self.policy.max_requests(pid, self.now))


def make(workers=2, recycle=None, **options):
    options.setdefault('respawn_interval', 3.5)
    policy = Policy(workers, URL, **options)
    driver = Driver(policy)
    if recycle is not None:
        policy.recycler = Recycler(*recycle, clock=driver)
    return driver


def serving(workers=2, **options):
    """A driver whose first workers (PIDs 100..) all serve."""
    driver = make(workers, **options)
    driver.start()
    driver.ready(*range(100, 100 + workers))
    driver.actions.clear()
    return driver


def spawns(actions):
    return [(a.slot, a.respawned) for a in actions if isinstance(a, Spawn)]


def signals(actions):
    return [(type(a).__name__, a.pid) for a in actions if isinstance(a, (Terminate, Kill))]


# --- start and ready announcement --------------------------------------------------------------


def test_start_spawns_every_slot_in_order_and_announces_once_all_serve():
    driver = make(3)
    actions = driver.start()
    assert spawns(actions) == [(1, False), (2, False), (3, False)]
    assert 'Spawning worker-2 with PID: 101' in actions
    assert driver.ready(100, 101) == ['Started worker-1 (PID 100)', 'Started worker-2 (PID 101)']
    assert driver.ready(102) == ['Started worker-3 (PID 102)', f'Listening at: {URL} (ready, 3 workers)']
    assert driver.ready(102) == [], 'a second ready byte changes nothing'
    assert driver.policy.running and driver.policy.next_deadline() is None


def test_one_worker_is_announced_in_the_singular():
    driver = make(1)
    driver.start()
    assert driver.ready(100)[-1] == f'Listening at: {URL} (ready, 1 worker)'


def test_a_stop_before_start_spawns_nothing():
    driver = make(2)
    driver.stop()
    assert driver.start() == []
    assert not driver.policy.running and driver.policy.exit_code == 0


def test_a_failed_first_spawn_stops_with_status_1():
    driver = make(2)
    driver.spawn_fails = True
    actions = driver.start()
    assert spawns(actions) == [(1, False)]
    assert 'Shutting down granian' in actions
    assert not driver.policy.running and driver.policy.exit_code == 1


def test_no_announcement_while_stopping():
    driver = make(2)
    driver.start()
    driver.ready(100)
    driver.stop()
    assert not any(a.startswith('Listening') for a in driver.ready(101) if isinstance(a, str))


# --- exits, respawn, crash loop ----------------------------------------------------------------


DIED = 'worker-1 (PID 100) died unexpectedly: '
FAILED_START = 'worker-1 (PID 100) failed to start (see the error above)'
GONE = 'Stopping: worker-1 is gone'
NO_RESPAWN = ' and --respawn-failed-workers is off'
WAIT = 'Waiting for a file change to start worker-1 again'
RELOAD = {'reload': True}


@pytest.mark.parametrize(
    ('options', 'ready', 'code', 'expected', 'stops'),
    [
        ({}, True, 3, [DIED + 'exit code 3', GONE + NO_RESPAWN], True),
        ({}, True, -9, [DIED + 'killed by signal SIGKILL', GONE + NO_RESPAWN], True),
        ({}, False, 1, [FAILED_START, 'Shutting down granian'], True),
        (RELOAD, False, 1, [FAILED_START, WAIT], False),
        (RELOAD, True, 1, [DIED + 'exit code 1', GONE], True),
        ({**RELOAD, 'reload_ignore_worker_failure': True}, True, 1, [DIED + 'exit code 1', WAIT], False),
        ({'respawn_failed_workers': True}, True, 3, [DIED + 'exit code 3', 'Respawning worker-1'], False),
    ],
)
def test_a_worker_that_dies_on_its_own(options, ready, code, expected, stops):
    driver = make(2, **options)
    driver.start()
    if ready:
        driver.ready(100, 101)
    actions = driver.exit(100, code)
    logs = [a for a in actions if isinstance(a, str)]
    assert logs[: len(expected)] == expected
    assert driver.policy.stopping is stops
    if stops:
        assert 'Shutting down granian' in logs and signals(actions) == [('Terminate', 101)]
        assert driver.policy.exit_code == 1
    else:
        assert driver.policy.running and driver.policy.exit_code == 0


def test_a_respawned_worker_is_respawned_flagged_and_keeps_its_slot():
    driver = serving(2, respawn_failed_workers=True)
    driver.now += 100
    assert spawns(driver.exit(100, 3)) == [(1, True)]
    assert driver.policy.slots[1].pid == 102
    assert [a.reason for a in driver.actions if isinstance(a, Spawn)] == ['err'], 'for the metrics'


@pytest.mark.parametrize(('age', 'respawns'), [(CRASH_LOOP_WINDOW - 0.1, False), (CRASH_LOOP_WINDOW, True)])
def test_the_crash_loop_guard(age, respawns):
    driver = serving(1, respawn_failed_workers=True)
    driver.exit(100, 3)  # respawned as PID 101
    driver.now += age
    actions = driver.exit(101, 3)
    assert bool(spawns(actions)) is respawns
    if not respawns:
        assert (
            f'worker-1 (PID 101) died {age:.1f}s after being respawned: not respawning it again (crash loop), stopping'
        ) in actions
        assert not driver.policy.running and driver.policy.exit_code == 1


def test_a_failed_respawn_stops_the_server():
    driver = serving(1, respawn_failed_workers=True)
    driver.spawn_fails = True
    driver.exit(100, 3)
    assert driver.policy.stopping and driver.policy.exit_code == 1


# --- stopping and kill timeouts ----------------------------------------------------------------


def test_stop_terminates_every_worker_and_exits_0_when_they_stop_cleanly():
    driver = serving(2)
    assert driver.stop() == ['Shutting down granian', Terminate(100), Terminate(101)]
    assert driver.stop() == [], 'a second SIGTERM changes nothing'
    assert driver.exit(100, 0) == ['Stopped worker-1']
    assert driver.policy.running
    driver.exit(101, 0)
    assert not driver.policy.running and driver.policy.exit_code == 0


@pytest.mark.parametrize(
    ('ready', 'code', 'log', 'status'),
    [
        (True, 0, 'Stopped worker-1', 0),
        (False, -signal.SIGINT, 'Stopped worker-1', 0),
        (False, -signal.SIGTERM, 'Stopped worker-1', 0),
        (True, -signal.SIGTERM, 'worker-1 (PID 100) exited during shutdown: killed by signal SIGTERM', 1),
        (True, 2, 'worker-1 (PID 100) exited during shutdown: exit code 2', 1),
    ],
)
def test_exits_during_a_stop(ready, code, log, status):
    driver = make(1)
    driver.start()
    if ready:
        driver.ready(100)
    driver.stop()
    assert driver.exit(100, code) == [log]
    assert driver.policy.exit_code == status


def test_kill_timeout_kills_and_fails():
    driver = serving(2, kill_timeout=10)
    driver.stop()
    assert driver.policy.next_deadline() == driver.now + 10
    driver.exit(100, 0)
    driver.now += 9.9
    assert driver.timers() == []
    driver.now += 0.1
    assert driver.timers() == ['worker-2 (PID 101) did not stop within 10s: killing it', Kill(101)]
    assert driver.exit(101, -9) == [], 'a killed worker is reported once'
    assert driver.policy.exit_code == 1


def test_a_second_interrupt_kills_what_is_left():
    driver = serving(2)
    driver.stop(interrupt=True)
    driver.exit(100, 0)
    assert driver.stop(interrupt=True) == ['Second interrupt: killing 1 remaining worker(s)', Kill(101)]
    assert driver.stop() == []
    assert driver.policy.exit_code == 1


# --- rollouts ----------------------------------------------------------------------------------


def test_sighup_replaces_slots_one_at_a_time_with_the_interval():
    driver = serving(2, kill_timeout=30)
    actions = driver.hup()
    assert actions[:2] == ['Received SIGHUP: reloading the workers one by one', RunReloadHooks()]
    assert spawns(actions) == [(1, False)], 'one slot at a time'
    assert driver.ready(102) == ['Started worker-1 (PID 102)']
    assert driver.policy.next_deadline() == driver.now + 3.5
    driver.now += 3.4
    assert driver.timers() == []
    driver.now += 0.1
    actions = driver.timers()
    assert actions == [
        'Replaced worker-1 (PID 100) by PID 102 (SIGHUP)',
        Terminate(100),
        Spawn(2, False),
        'Spawning worker-2 with PID: 103',
    ]
    assert driver.policy.workers[100].retiring and driver.policy.workers[100].kill_at == driver.now + 30
    assert driver.exit(100, 0) == ['Stopped worker-1 (PID 100)']
    driver.ready(103)
    driver.now += 3.5
    assert signals(driver.timers()) == [('Terminate', 101)]
    assert driver.exit(101, 1) == ['worker-2 (PID 101) exited after being replaced: exit code 1']
    assert [w.pid for w in driver.policy.slots.values()] == [102, 103]
    assert driver.policy.exit_code == 0 and driver.policy.rollout is None and not driver.policy.queue


def test_a_file_change_replaces_without_the_interval():
    driver = serving(2)
    assert spawns(driver.change()) == [(1, False)]
    assert driver.ready(102) == ['Started worker-1 (PID 102)']
    assert driver.policy.next_deadline() == driver.now, 'no pause: the next timer pass finishes it'
    assert driver.timers() == [
        'Replaced worker-1 (PID 100) by PID 102 (file change)',
        Terminate(100),
        Spawn(2, False),
        'Spawning worker-2 with PID: 103',
    ]


def test_a_killed_retiring_worker_does_not_fail_the_server():
    driver = serving(1, kill_timeout=5, respawn_interval=0)
    driver.hup()
    driver.ready(101)
    driver.timers()
    driver.now += 5
    assert driver.timers() == ['worker-1 (PID 100) did not stop within 5s: killing it', Kill(100)]
    assert driver.exit(100, -9) == []
    assert driver.policy.exit_code == 0


def test_a_failing_reload_hook_cancels_the_reload():
    driver = serving(2)
    driver.hooks_ok = False
    actions = driver.hup()
    assert actions[-1] == 'An on_reload hook failed: the workers are not reloaded'
    assert spawns(actions) == [] and not driver.policy.queue


def test_no_reload_while_stopping():
    driver = serving(2)
    driver.stop()
    assert driver.hup() == [] and driver.change() == []


@pytest.mark.parametrize(
    ('reload', 'log'),
    [
        (False, 'worker-1 (PID 100) keeps running the code it has'),
        (True, 'worker-1 (PID 100) keeps running the code it has; waiting for the next file change'),
    ],
)
def test_a_replacement_that_dies_before_ready_keeps_the_old_worker(reload, log):
    driver = serving(2, reload=reload)
    driver.change()
    actions = driver.exit(102, 1)
    assert actions == [
        'worker-1 (PID 102) failed to start (see the error above)',
        log,
        'Reload abandoned: the other workers keep running as they are',
    ]
    assert driver.policy.slots[1].pid == 100 and not driver.policy.queue and driver.policy.rollout is None
    assert not driver.policy.stopping


def test_a_replacement_that_cannot_be_spawned_keeps_the_old_worker():
    driver = serving(2)
    driver.spawn_fails = True
    actions = driver.hup()
    assert actions[-2:] == [
        'Replacing worker-1 failed: it keeps running as it is',
        'Reload abandoned: the other workers keep running as they are',
    ]
    assert driver.policy.slots[1].pid == 100 and not driver.policy.queue


def test_an_old_worker_that_dies_during_its_rollout_leaves_the_slot_to_the_new_one():
    driver = serving(1)
    driver.hup()
    assert driver.exit(100, 3) == ['worker-1 (PID 100) died unexpectedly: exit code 3']
    assert driver.policy.slots[1] is None and not driver.policy.stopping
    assert driver.ready(101) == ['Started worker-1 (PID 101)']
    assert driver.policy.slots[1].pid == 101 and driver.policy.rollout is None


def test_a_stop_during_a_rollout_drops_it():
    driver = serving(2)
    driver.hup()
    assert signals(driver.stop()) == [('Terminate', 100), ('Terminate', 101), ('Terminate', 102)]
    assert driver.policy.rollout is None and not driver.policy.queue
    assert spawns(driver.ready(102)) == []
    assert driver.policy.next_deadline() is None


# --- lifetime and memory -----------------------------------------------------------------------


def test_lifetime_replaces_a_worker_and_a_failed_replacement_tracks_it_again():
    driver = make(2, recycle=(60, None))
    driver.start()
    assert driver.policy.next_deadline() is None, 'tracking starts when a worker serves'
    driver.ready(100)
    driver.now += 10
    driver.ready(101)
    assert driver.policy.next_deadline() == 1060
    driver.now = 1060
    actions = driver.timers()
    assert actions[0] == 'Replacing worker-1 (PID 100): it reached its lifetime of 60s'
    assert spawns(actions) == [(1, False)]
    assert [a.reason for a in actions if isinstance(a, Spawn)] == ['lifetime'], 'for the metrics'
    driver.exit(102, 3)  # the replacement dies: worker-1 serves on, its lifetime starts again
    assert driver.policy.recycler.next_deadline() == 1070
    driver.now = 1070
    assert driver.timers()[0] == 'Replacing worker-2 (PID 101): it reached its lifetime of 60s'
    driver.ready(103)
    driver.now += 3.5
    assert driver.timers()[0] == 'Replaced worker-2 (PID 101) by PID 103 (lifetime reached)'


# --- max requests ------------------------------------------------------------------------------


def test_a_worker_that_served_its_max_requests_is_rolled_out_like_a_lifetime():
    driver = serving(1, kill_timeout=30)
    actions = driver.max_requests(100)
    assert actions == [
        'Replacing worker-1 (PID 100): max requests reached',
        Spawn(1, False),
        'Spawning worker-1 with PID: 101',
    ]
    # The old worker serves on until the new one is ready and the interval has passed.
    assert signals(driver.actions) == []
    assert driver.ready(101) == ['Started worker-1 (PID 101)']
    driver.now += 3.5
    assert driver.timers() == ['Replaced worker-1 (PID 100) by PID 101 (max requests reached)', Terminate(100)]
    assert driver.exit(100, 0) == ['Stopped worker-1 (PID 100)']
    assert driver.policy.slots[1].pid == 101 and driver.policy.exit_code == 0


def test_max_requests_of_a_worker_on_its_way_out_changes_nothing():
    driver = serving(1)
    driver.max_requests(100)
    assert driver.max_requests(100) == [], 'the old worker of the running rollout'
    driver.ready(101)
    driver.now += 3.5
    driver.timers()
    assert driver.max_requests(100) == [], 'retiring'
    assert not driver.policy.queue and driver.policy.rollout is None
    driver.stop()
    assert driver.max_requests(101) == [], 'stopping'


def test_a_new_worker_that_served_its_max_before_owning_the_slot_is_replaced_once_it_does():
    driver = serving(1)
    driver.hup()
    driver.ready(101)
    # During the interval both serve; the new one reaches its limit first.
    assert driver.max_requests(101) == []
    driver.now += 3.5
    actions = driver.timers()
    assert actions[:3] == [
        'Replaced worker-1 (PID 100) by PID 101 (SIGHUP)',
        Terminate(100),
        'Replacing worker-1 (PID 101): max requests reached',
    ]
    assert spawns(actions) == [(1, False)]
    driver.ready(102)
    driver.now += 3.5
    assert driver.timers()[0] == 'Replaced worker-1 (PID 101) by PID 102 (max requests reached)'


def test_max_requests_queues_behind_a_running_rollout():
    driver = serving(2)
    driver.max_requests(100)
    assert spawns(driver.max_requests(101)) == [], 'one slot at a time'
    assert driver.actions[-1] == 'Replacing worker-2 (PID 101): max requests reached'
    driver.ready(102)
    driver.now += 3.5
    assert spawns(driver.timers()) == [(2, False)]


def test_max_requests_of_an_unknown_worker_is_ignored():
    driver = serving(1)
    assert driver.max_requests(999) == []
