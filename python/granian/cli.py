"""The `granian` command line.

Options are generated from the declarations in `granian.config` / `granian.http` (flag, kind,
limits, help, env var), so this module holds no defaults of its own. Only options actually
given (on the command line or through a `GRANIAN_*` env var) are passed on to
`Granian(target, **kwargs)`; everything else gets the library defaults.

Exit codes: 2 for usage and configuration errors, 1 for startup failures, an unreadable
`--log-config` or a failed server; otherwise the server's own exit code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

import click
from click.core import ParameterSource

from granian._legacy import ALIAS_OPTIONS, LEGACY_VALUES
from granian._options import Opt, opt_of, parse_duration, parse_header, parse_octal
from granian._version import __version__
from granian.config import FIELDS, SETTINGS_CLASSES, option_flags
from granian.errors import ConfigurationError, FatalError, StartupError

#: Separates a settings object from its field in click parameter names (`http1_settings__keep_alive`).
_NESTED = '__'


class Duration(click.ParamType):
    """A click type for durations, converted to whole seconds (an `int`).

    Accepts seconds (`90`) or `d`, `h`, `m`, `s` parts in that order, each optional (`10m`,
    `1h30m`, `10d10h10m10s`). `Duration(5, 600)` also checks the inclusive bounds, in seconds.
    Anything else fails with `'<value>' is not a valid duration`.
    """

    name = 'duration'

    def __init__(self, min: int | None = None, max: int | None = None) -> None:  # noqa: A002
        self.min, self.max = min, max

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_duration(value, self.min, self.max)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)

    def __repr__(self) -> str:
        return f'Duration({self.min!r}, {self.max!r})'


#: Former name of `Duration`.
DurationType = Duration


class OctalType(click.ParamType):
    """A file mode: `0660` (leading 0 = octal) or a decimal integer."""

    name = 'octal'

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_octal(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Option(click.Option):
    """A click option whose error messages name what the user set: the flag, or the env var.

    A bad value given on the command line is reported as `'--flag'`; one read from the
    environment as `'GRANIAN_...'` (the variable actually set), so the one-line error points
    at the place to fix.
    """

    def env_in_use(self, ctx: click.Context | None) -> str | None:
        """The env var this option's value was read from, or None when it was not."""
        if ctx is None or self.name is None or ctx.get_parameter_source(self.name) != ParameterSource.ENVIRONMENT:
            return None
        names = [self.envvar] if isinstance(self.envvar, str) else list(self.envvar or ())
        return next((name for name in names if os.environ.get(name)), None)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        env = self.env_in_use(ctx)
        if env is not None:
            return f"'{env}'"
        return click.Parameter.get_error_hint(self, ctx)  # type: ignore[arg-type]


class HeaderType(click.ParamType):
    """A response header `NAME:VALUE`; in the env var, one header per line."""

    name = 'header'
    envvar_list_splitter = '\n'

    def split_envvar_value(self, rv: str) -> list[str]:
        return [line for line in rv.splitlines() if line.strip()]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return parse_header(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _click_type(opt: Opt, legacy: tuple[str, ...] = ()) -> click.ParamType:
    kind = opt.kind
    if kind == 'int':
        return click.IntRange(opt.min, opt.max) if opt.min is not None or opt.max is not None else click.INT
    if kind == 'float':
        return click.FloatRange(opt.min, opt.max)
    if kind == 'duration':
        return Duration(opt.min, opt.max)
    if kind == 'choice':
        assert opt.choices is not None
        return click.Choice([*opt.choices.values(), *legacy], case_sensitive=False)
    if kind == 'octal':
        return OctalType()
    if kind == 'header':
        return HeaderType()
    if kind in ('file', 'dict'):  # 'dict' = the JSON file read by `_read_log_config`
        return click.Path(exists=True, dir_okay=False)
    if kind == 'dir':
        return click.Path(exists=True, file_okay=False)
    if kind == 'exists':
        return click.Path(exists=True)
    if kind == 'path':
        return click.Path()
    return click.STRING


def _click_option(name: str, opt: Opt, default: Any, hidden: bool = False) -> _Option:
    """The click option for one declared setting; `name` becomes the callback keyword."""
    assert opt.flag is not None
    legacy = tuple(LEGACY_VALUES.get(name, ()))
    attrs: dict[str, Any] = {
        'help': opt.help,
        'envvar': opt.envvar if not opt.env_aliases else list(opt.envvars),
        'show_envvar': True,
        'hidden': hidden,
    }
    if opt.kind == 'bool':
        decls = [f'{opt.flag}/--no-{opt.flag[2:]}', name]
        attrs.update(default=bool(default), show_default=True)
    else:
        decls = [opt.flag, *opt.flag_aliases, name]
        attrs.update(type=_click_type(opt, legacy), multiple=opt.multi)
        if opt.default_text is not None:
            attrs.update(default=() if opt.multi else None, show_default=opt.default_text)
        else:
            attrs.update(default=default, show_default=default not in (None, ()))
        if opt.kind == 'duration':
            attrs['metavar'] = 'DURATION'
        elif opt.kind == 'choice' and legacy:
            assert opt.choices is not None
            attrs['metavar'] = '[' + '|'.join(opt.choices.values()) + ']'
    return _Option(decls, **attrs)


def _options() -> list[_Option]:
    """One click option per CLI-visible setting, in declaration order, then the 1.x aliases."""
    options = []
    for name, field in FIELDS.items():
        if name in SETTINGS_CLASSES:
            for sub in dataclasses.fields(SETTINGS_CLASSES[name]):
                options.append(_click_option(f'{name}{_NESTED}{sub.name}', opt_of(sub), sub.default))
        elif opt_of(field).flag is not None:
            options.append(_click_option(name, opt_of(field), field.default))
    for name, opt in ALIAS_OPTIONS.items():
        options.append(_click_option(name, opt, None if opt.kind != 'bool' else False, hidden=True))
    return options


def _read_log_config(path: str) -> dict[str, Any]:
    """The dictConfig in a `--log-config` file; any problem is a one-line error, exit 1."""
    try:
        with open(path, encoding='utf-8') as file:
            data = json.load(file)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"--log-config file '{path}' is not valid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"--log-config file '{path}' cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"--log-config file '{path}' must hold a JSON object (a logging dictConfig)")
    return data


def _given(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """`Granian` keyword arguments for the options given on the command line or in the env."""
    kwargs: dict[str, Any] = {}
    for name, value in params.items():
        if name == 'target' or ctx.get_parameter_source(name) in (None, ParameterSource.DEFAULT):
            continue
        if _NESTED in name:
            group, field = name.split(_NESTED, 1)
            kwargs.setdefault(group, {})[field] = value
        elif name == 'log_dictconfig':
            kwargs[name] = _read_log_config(value)
        else:
            kwargs[name] = value
    return kwargs


def _usage_error(exc: ConfigurationError, ctx: click.Context | None = None) -> click.UsageError:
    """The one-line usage error for `exc`, naming the flag, or the env var the value came from."""
    flags = option_flags()
    flags['target'] = 'APP'
    label = flags.get(exc.option or '')
    if ctx is not None and exc.option:
        param_name = exc.option.replace('.', _NESTED)
        param = next((p for p in ctx.command.params if p.name == param_name), None)
        if isinstance(param, _Option):
            label = param.env_in_use(ctx) or label
    return click.UsageError(exc.render(label))


def _run(target: str, **params: Any) -> None:
    from granian.server import Granian

    ctx = click.get_current_context()
    try:
        server = Granian(target, **_given(ctx, params))
        server.serve()
    except ConfigurationError as exc:
        raise _usage_error(exc, ctx) from None
    except (StartupError, FatalError) as exc:
        raise click.ClickException(str(exc)) from None


def _build() -> click.Command:
    command = click.Command(
        'granian',
        callback=_run,
        params=[click.Argument(['target'], metavar='APP'), *_options()],
        help='Serve the application APP, given as an import string `module:attr` (attr defaults to `app`).',
        context_settings={'auto_envvar_prefix': 'GRANIAN', 'max_content_width': 120},
    )
    version = click.version_option(__version__, '--version', prog_name='granian', message='%(prog)s %(version)s')
    return version(command)


#: The click command (use `cli.main(args)` or click's CliRunner to drive it).
cli = _build()


def entrypoint() -> None:
    """Console-script entry point: run the `granian` command on `sys.argv`.

    Errors are one line on stderr (`Error: ...`), exit status 2 for bad usage and 1 for
    failures, without click's usage banner.
    """
    try:
        code = cli.main(prog_name='granian', standalone_mode=False)
    except click.UsageError as exc:
        click.echo(f'Error: {exc.format_message()}', err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f'Error: {exc.format_message()}', err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
