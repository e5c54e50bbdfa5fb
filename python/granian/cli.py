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
import sys
from typing import Any

import click
from click.core import ParameterSource

from granian._options import Opt, opt_of, parse_duration, parse_octal
from granian._version import __version__
from granian.config import ALIAS_OPTIONS, FIELDS, LEGACY_VALUES, SETTINGS_CLASSES, UNSUPPORTED, option_flags
from granian.errors import ConfigurationError, FatalError, StartupError

#: Separates a settings object from its field in click parameter names (`http1_settings__keep_alive`).
_NESTED = '__'


class DurationType(click.ParamType):
    """Seconds, or a compact `1d2h3m4s` string, within optional bounds."""

    name = 'duration'

    def __init__(self, lo: int | None, hi: int | None) -> None:
        self.lo, self.hi = lo, hi

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_duration(value, self.lo, self.hi)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class OctalType(click.ParamType):
    """A file mode: `0660` (leading 0 = octal) or a decimal integer."""

    name = 'octal'

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            return parse_octal(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Option(click.Option):
    """A click option whose error messages name the flag only, as `--help` already shows the env var."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return click.Parameter.get_error_hint(self, ctx)  # type: ignore[arg-type]


def _click_type(opt: Opt, legacy: tuple[str, ...] = ()) -> click.ParamType:
    kind = opt.kind
    if kind == 'int':
        return click.IntRange(opt.min, opt.max) if opt.min is not None or opt.max is not None else click.INT
    if kind == 'float':
        return click.FloatRange(opt.min, opt.max)
    if kind == 'duration':
        return DurationType(opt.min, opt.max)
    if kind == 'choice':
        assert opt.choices is not None
        return click.Choice([*opt.choices.values(), *legacy], case_sensitive=False)
    if kind == 'octal':
        return OctalType()
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
    unsupported = name in UNSUPPORTED or name.split(_NESTED)[0] in UNSUPPORTED
    attrs: dict[str, Any] = {
        'help': opt.help + (' (Not supported yet by this build.)' if unsupported else ''),
        'envvar': opt.envvar,
        'show_envvar': True,
        'hidden': hidden,
    }
    if opt.kind == 'bool':
        decls = [f'{opt.flag}/--no-{opt.flag[2:]}', name]
        attrs.update(default=bool(default), show_default=True)
    else:
        decls = [opt.flag, name]
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


def _usage_error(exc: ConfigurationError) -> click.UsageError:
    flags = option_flags()
    flags['target'] = 'APP'
    return click.UsageError(exc.render(flags.get(exc.option or '')))


def _run(target: str, **params: Any) -> None:
    from granian.server import Granian

    ctx = click.get_current_context()
    try:
        server = Granian(target, **_given(ctx, params))
        server.serve()
    except ConfigurationError as exc:
        raise _usage_error(exc) from None
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
