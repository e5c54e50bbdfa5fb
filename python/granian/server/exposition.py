"""The metrics page: families of samples rendered as Prometheus text (format 0.0.4) or
OpenMetrics 1.0 text, chosen from the scraper's ``Accept`` header. Pure functions.

A family is a name, a type, a help text and its samples; a sample is a suffix (``''``,
``'_bucket'``, ...), its labels and a value. The series themselves are described in
``docs/observability.md``.

OpenMetrics requires a counter's samples to end in ``_total``. Granian's own counters
(``granian_requests_handled``, ...) do not, and renaming them would break the dashboards built on
them (Prometheus asks for OpenMetrics first by default), so in OpenMetrics they keep their names
and are typed ``unknown``; counters named ``..._total`` are OpenMetrics counters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ['OPENMETRICS', 'TEXT', 'Family', 'Sample', 'negotiate', 'render']

TEXT = 'text/plain; version=0.0.4; charset=utf-8'
OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

Labels = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Sample:
    suffix: str
    labels: Labels
    value: float


@dataclass
class Family:
    name: str
    kind: str  # 'counter', 'gauge' or 'histogram'
    help: str
    unit: str = ''
    samples: list[Sample] = field(default_factory=list)

    def add(self, labels: Labels, value: float, suffix: str = '') -> None:
        self.samples.append(Sample(suffix, labels, value))

    def add_histogram(self, labels: Labels, bounds: Sequence[float], buckets: Sequence[int], total: float) -> None:
        """``buckets``: counts per bucket, not cumulative, ``+Inf`` last (one more than ``bounds``)."""
        running = 0
        for bound, count in zip([*bounds, math.inf], buckets, strict=True):
            running += count
            self.add([*labels, ('le', _number(bound))], running, '_bucket')
        self.add(labels, running, '_count')
        self.add(labels, total, '_sum')


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return '+Inf' if value > 0 else '-Inf'
    if math.isnan(value):
        return 'NaN'
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace('\\', '\\\\').replace('\n', '\\n')


def _sample_line(name: str, sample: Sample) -> str:
    labels = ''
    if sample.labels:
        labels = '{' + ','.join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels) + '}'
    return f'{name}{sample.suffix}{labels} {_number(sample.value)}\n'


def render(families: Iterable[Family], openmetrics: bool) -> bytes:
    """The page in OpenMetrics text (ending with ``# EOF``) or Prometheus text 0.0.4."""
    out: list[str] = []
    for family in families:
        name, kind = family.name, family.kind
        if openmetrics and kind == 'counter':
            if name.endswith('_total'):
                name = name[: -len('_total')]
            else:
                kind = 'unknown'  # see the module docs
        out.append(f'# HELP {name} {_escape_help(family.help)}\n')
        out.append(f'# TYPE {name} {kind}\n')
        if openmetrics and family.unit and name.endswith(f'_{family.unit}'):
            out.append(f'# UNIT {name} {family.unit}\n')
        for sample in family.samples:
            out.append(_sample_line(family.name, sample))
    if openmetrics:
        out.append('# EOF\n')
    return ''.join(out).encode()


def negotiate(accept: str | None) -> bool:
    """Whether to answer in OpenMetrics: ``accept`` ranks ``application/openmetrics-text``
    at least as high as ``text/plain`` (and above zero)."""
    if not accept:
        return False
    best = {'openmetrics': -1.0, 'text': -1.0}
    for item in accept.split(','):
        media, *params = (part.strip() for part in item.split(';'))
        q = 1.0
        for param in params:
            key, _, value = param.partition('=')
            if key.strip().lower() == 'q':
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if media == 'application/openmetrics-text':
            best['openmetrics'] = max(best['openmetrics'], q)
        elif media in ('text/plain', 'text/*', '*/*'):
            best['text'] = max(best['text'], q)
    return best['openmetrics'] > 0 and best['openmetrics'] >= best['text']
