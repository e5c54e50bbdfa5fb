"""What the supervisor knows for the metrics page: its own counters (spawns, respawns by reason),
each slot's worker and the latest snapshot it sent, and whether the server is ready.

Workers send a snapshot (``Engine.metrics()`` as JSON: ``[slot, pid, snapshot]``) every
``--metrics-scrape-interval`` over one datagram socket shared by all of them. A slot's series
are those of its current worker: the one that last reported ready in that slot (a replaced
worker's counters start again from zero under the same ``worker`` label, which Prometheus'
``rate()`` takes as a counter reset, as with public Granian). Snapshots from a worker that no
longer owns its slot (retiring during a rollout) are ignored.

Updated by the supervisor's loop (spawns, ready, exits) and by the metrics thread (snapshots);
read by the metrics thread. Each update is a single assignment, so readers see whole values.
"""

from __future__ import annotations

import json
import time
from typing import Any

from granian.server.exposition import Family

__all__ = ['MetricsState']

#: Snapshot key, series name, help text, and kind of the per-worker series public Granian has.
GRANIAN_SERIES = (
    ('connections_active', 'granian_connections_active', 'Connections open now.', 'gauge'),
    ('connections_handled', 'granian_connections_handled', 'Connections accepted.', 'counter'),
    (
        'connections_err',
        'granian_connections_err',
        'Connections that ended with an error (TLS handshake, protocol or I/O error, timeout).',
        'counter',
    ),
    ('requests_handled', 'granian_requests_handled', 'HTTP requests received.', 'counter'),
    ('static_handled', 'granian_static_requests_handled', 'Requests answered from --static-path-mount.', 'counter'),
    ('static_err', 'granian_static_requests_err', 'Static file answers with a 4xx or 5xx status.', 'counter'),
    (
        'blocking_threads',
        'granian_blocking_threads',
        'Threads running Python for the engine: the WSGI pool threads alive, or 1 (the event loop thread).',
        'gauge',
    ),
    ('blocking_queue', 'granian_blocking_queue', 'Jobs queued for those threads and not started.', 'gauge'),
    (
        'blocking_idle_us',
        'granian_blocking_idle_cumulative',
        'Microseconds those threads were not running engine jobs.',
        'counter',
    ),
    (
        'blocking_busy_us',
        'granian_blocking_busy_cumulative',
        'Microseconds those threads spent running engine jobs.',
        'counter',
    ),
    (
        'py_wait_us',
        'granian_py_wait_cumulative',
        'Microseconds engine jobs waited in the queue before a Python thread started them.',
        'counter',
    ),
)


class MetricsState:
    """The supervisor's view of the metrics (see the module docs)."""

    def __init__(self, interface: str, clock: Any = time.monotonic) -> None:
        self.interface = interface
        self._clock = clock
        self.spawns = 0
        self.respawns = {'err': 0, 'lifetime': 0, 'rss': 0}
        #: slot -> (pid, spawn time) of the worker whose series are shown.
        self.owners: dict[int, tuple[int, float]] = {}
        #: pid -> spawn time, for every worker not reaped.
        self.born: dict[int, float] = {}
        #: slot -> latest snapshot of its owner.
        self.snapshots: dict[int, dict[str, Any]] = {}
        #: Every first-generation worker served (``Listening at:``) and no stop began.
        self.ready = False
        self.stopping = False

    # --- supervisor events -------------------------------------------------------------------

    def spawned(self, slot: int, pid: int, reason: str | None) -> None:
        """A worker started; ``reason``: ``'err'`` (respawned after a failure), a rollout
        reason (``'lifetime'``, ``'rss'``, ``'sighup'``, ...) or None (first start)."""
        self.spawns += 1
        if reason in self.respawns:
            self.respawns[reason] += 1
        self.born[pid] = self._clock()
        if slot not in self.owners:
            self.owners[slot] = (pid, self.born[pid])

    def worker_ready(self, slot: int, pid: int) -> None:
        """The worker serves: its slot's series are its own from now on."""
        previous = self.owners.get(slot)
        if previous is None or previous[0] != pid:
            self.owners[slot] = (pid, self.born.get(pid, self._clock()))
            self.snapshots.pop(slot, None)

    def reaped(self, pid: int) -> None:
        self.born.pop(pid, None)

    # --- worker snapshots --------------------------------------------------------------------

    def receive(self, datagram: bytes) -> bool:
        """Takes one snapshot datagram; False when it is malformed or from a worker that does
        not own its slot."""
        try:
            slot, pid, snapshot = json.loads(datagram)
            owner = self.owners.get(slot)
        except (ValueError, TypeError):
            return False
        if owner is None or owner[0] != pid or not isinstance(snapshot, dict):
            return False
        self.snapshots[slot] = snapshot
        return True

    # --- the page ----------------------------------------------------------------------------

    def families(self) -> list[Family]:
        now = self._clock()
        families = [
            Family('granian_workers_spawns', 'counter', 'Worker processes started.'),
            Family('granian_workers_respawns_for_err', 'counter', 'Workers respawned after dying.'),
            Family('granian_workers_respawns_for_lifetime', 'counter', 'Workers replaced at --workers-lifetime.'),
            Family('granian_workers_respawns_for_rss', 'counter', 'Workers replaced at --workers-max-rss.'),
        ]
        for family, value in zip(
            families,
            (self.spawns, self.respawns['err'], self.respawns['lifetime'], self.respawns['rss']),
            strict=True,
        ):
            family.add((), value)
        lifetime = Family('granian_worker_lifetime', 'counter', 'Seconds since the worker started.')
        families.append(lifetime)
        owners = sorted(self.owners.items())
        for slot, (_pid, born) in owners:
            lifetime.add((('worker', str(slot)),), int(now - born))
        snapshots = sorted(self.snapshots.items())
        for key, name, text, kind in GRANIAN_SERIES:
            family = Family(name, kind, text)
            for slot, snap in snapshots:
                family.add((('worker', str(slot)),), snap.get(key, 0))
            families.append(family)
        families.extend(self._request_families(snapshots))
        return families

    def _request_families(self, snapshots: list[tuple[int, dict[str, Any]]]) -> list[Family]:
        duration = Family(
            'http_server_request_duration_seconds',
            'histogram',
            'Time from the request head to the end of the response body.',
            'seconds',
        )
        req_size = Family(
            'http_server_request_body_size_bytes',
            'histogram',
            'Request body sizes, when announced (Content-Length or no body).',
            'bytes',
        )
        resp_size = Family('http_server_response_body_size_bytes', 'histogram', 'Response body bytes sent.', 'bytes')
        active = Family('http_server_active_requests', 'gauge', 'Requests being served now.')
        ws_active = Family('granian_websocket_sessions_active', 'gauge', 'WebSocket sessions open now.')
        ws_messages = Family(
            'granian_websocket_messages_total', 'counter', 'WebSocket messages received (in) and sent (out).'
        )
        refused = Family(
            'granian_overload_refused_total',
            'counter',
            'Requests refused by --limit-concurrency (HTTP/1 503, HTTP/2 REFUSED_STREAM).',
        )
        timeouts = Family('granian_timeouts_total', 'counter', 'Timeouts that fired, by the option that bounds them.')
        for slot, snap in snapshots:
            worker = ('worker', str(slot))
            base = (('interface', self.interface), worker)
            for method, status, version, (d_b, d_s), (q_b, q_s), (r_b, r_s) in snap.get('requests', ()):
                labels = (
                    ('http_request_method', method),
                    ('http_response_status_code', str(status)),
                    ('network_protocol_version', version),
                    *base,
                )
                duration.add_histogram(labels, snap['duration_bounds'], d_b, d_s)
                if sum(q_b):
                    req_size.add_histogram(labels, snap['size_bounds'], q_b, q_s)
                resp_size.add_histogram(labels, snap['size_bounds'], r_b, r_s)
            active.add(base, snap.get('requests_active', 0))
            ws_active.add((worker,), snap.get('ws_active', 0))
            ws_messages.add((('direction', 'in'), worker), snap.get('ws_messages_in', 0))
            ws_messages.add((('direction', 'out'), worker), snap.get('ws_messages_out', 0))
            refused.add((worker,), snap.get('overload_refused', 0))
            for kind, count in sorted(snap.get('timeouts', {}).items()):
                timeouts.add((('kind', kind), worker), count)
        return [duration, req_size, resp_size, active, ws_active, ws_messages, refused, timeouts]
