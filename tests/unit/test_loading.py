"""Loading the app: target parsing, modules and files, error messages, factories, dotenv, RSGI hooks."""

import os
import sys
import textwrap
import uuid

import pytest

from granian.errors import StartupError
from granian.loading import load_env_files, load_target, resolve_rsgi_app, split_target


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch):
    """Each test gets its own sys.path and drops the modules it imported."""
    monkeypatch.setattr(sys, 'path', list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


@pytest.fixture
def project(tmp_path):
    """Writes files under tmp_path; returns a unique module name prefix for them."""

    def write(relative: str, source: str = '') -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))

    write.root = tmp_path
    write.name = f'm{uuid.uuid4().hex[:10]}'
    return write


@pytest.mark.parametrize(
    ('target', 'expected'),
    [
        ('main', ('main', 'app')),
        ('main:api', ('main', 'api')),
        ('pkg.mod:obj.app', ('pkg.mod', 'obj.app')),
        ('src/main.py:app', ('src/main.py', 'app')),
        ('C:\\proj\\main.py:app', ('C:\\proj\\main.py', 'app')),
        ('C:\\proj\\main.py', ('C:\\proj\\main.py', 'app')),
        ('C:/proj/main.py:web', ('C:/proj/main.py', 'web')),
    ],
)
def test_split_target(target, expected):
    assert split_target(target) == expected


@pytest.mark.parametrize('target', ['', ':app', 'main:', 'main:1', 'main:a b', 'main:.app'])
def test_split_target_rejects(target):
    with pytest.raises(StartupError, match="expected '<module>:<attribute>'"):
        split_target(target)


def test_module_attribute_default_and_dotted(project):
    project(f'{project.name}.py', 'class Holder:\n    app = "inner"\napp = "top"\n')
    assert load_target(project.name, working_dir=project.root) == 'top'
    assert load_target(f'{project.name}:Holder.app', working_dir=project.root) == 'inner'
    assert sys.path[0] == str(project.root)


def test_current_directory_is_the_default_working_dir(project, monkeypatch):
    project(f'{project.name}.py', 'app = 1\n')
    monkeypatch.chdir(project.root)
    assert load_target(f'{project.name}:app') == 1


def test_file_path_target_walks_up_packages(project, monkeypatch):
    name = project.name
    project(f'src/{name}/__init__.py')
    project(f'src/{name}/sub/__init__.py')
    project(f'src/{name}/sub/main.py', 'app = __name__\n')
    monkeypatch.chdir(project.root)
    assert load_target(f'src/{name}/sub/main.py:app') == f'{name}.sub.main'
    assert sys.path[0] == str(project.root / 'src')


def test_file_path_without_package(project, monkeypatch):
    project(f'scripts/{project.name}.py', 'app = __name__\n')
    monkeypatch.chdir(project.root)
    assert load_target(f'scripts/{project.name}.py') == project.name
    assert load_target(str(project.root / 'scripts' / f'{project.name}.py') + ':app') == project.name


def test_file_path_relative_to_working_dir(project, tmp_path_factory, monkeypatch):
    project(f'src/{project.name}.py', 'app = 7\n')
    monkeypatch.chdir(tmp_path_factory.mktemp('elsewhere'))
    assert load_target(f'src/{project.name}.py:app', working_dir=project.root) == 7


def test_missing_file(project):
    with pytest.raises(StartupError, match=r"could not import 'nowhere/x.py': no such file"):
        load_target('nowhere/x.py:app', working_dir=project.root)


def test_missing_module(project):
    with pytest.raises(StartupError) as info:
        load_target('no_such_module_here:app', working_dir=project.root)
    message = str(info.value)
    assert "could not import module 'no_such_module_here'" in message
    assert '<module>:<attribute>' in message
    assert info.value.__cause__ is None


def test_missing_submodule_of_existing_package(project):
    project(f'{project.name}/__init__.py')
    with pytest.raises(StartupError, match=f"could not import module '{project.name}.nope'"):
        load_target(f'{project.name}.nope:app', working_dir=project.root)


def test_missing_attribute(project):
    project(f'{project.name}.py', 'application = 1\n')
    with pytest.raises(StartupError) as info:
        load_target(f'{project.name}:api.handler', working_dir=project.root)
    assert str(info.value).startswith(f"attribute 'api.handler' not found in module '{project.name}'")


def test_app_import_error_keeps_the_original_exception(project):
    project(f'{project.name}.py', 'raise ValueError("bad settings")\n')
    with pytest.raises(StartupError) as info:
        load_target(project.name, working_dir=project.root)
    assert str(info.value) == f"cannot import '{project.name}': ValueError: bad settings"
    assert isinstance(info.value.__cause__, ValueError)


def test_app_missing_dependency_is_the_apps_error(project):
    project(f'{project.name}.py', 'import dependency_that_is_not_installed\napp = 1\n')
    with pytest.raises(StartupError, match='dependency_that_is_not_installed') as info:
        load_target(project.name, working_dir=project.root)
    assert str(info.value).startswith(f"cannot import '{project.name}': ModuleNotFoundError")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def _frame_files(exc):
    files = []
    tb = exc.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return files


def test_app_traceback_keeps_only_the_apps_frames(project):
    project(f'{project.name}/__init__.py')
    project(f'{project.name}/settings.py', 'def read():\n    return undefined_name\n')
    project(f'{project.name}/main.py', 'from . import settings\nsettings.read()\n')
    with pytest.raises(StartupError) as info:
        load_target(f'{project.name}.main:app', working_dir=project.root)
    message = f"cannot import '{project.name}.main:app': NameError: name 'undefined_name' is not defined"
    assert str(info.value) == message
    files = _frame_files(info.value.__cause__)
    root = str(project.root)
    assert [os.path.relpath(f, root) for f in files] == [
        os.path.join(project.name, 'main.py'),
        os.path.join(project.name, 'settings.py'),
    ]


def test_app_syntax_error_has_no_machinery_frames(project):
    project(f'{project.name}.py', 'def broken(:\n    pass\n')
    with pytest.raises(StartupError, match=f"cannot import '{project.name}': SyntaxError") as info:
        load_target(project.name, working_dir=project.root)
    assert isinstance(info.value.__cause__, SyntaxError)
    assert _frame_files(info.value.__cause__) == []


def test_factory_traceback_starts_in_the_app(project):
    project(f'{project.name}.py', 'def create():\n    raise RuntimeError("no db")\n')
    with pytest.raises(StartupError) as info:
        load_target(f'{project.name}:create', factory=True, working_dir=project.root)
    assert [os.path.basename(f) for f in _frame_files(info.value.__cause__)] == [f'{project.name}.py']


def test_factory(project):
    project(
        f'{project.name}.py',
        """
        def create():
            return 'built'
        def broken():
            raise RuntimeError('no db')
        value = 3
        """,
    )
    assert load_target(f'{project.name}:create', factory=True, working_dir=project.root) == 'built'
    assert callable(load_target(f'{project.name}:create', working_dir=project.root))
    with pytest.raises(StartupError, match='raised RuntimeError: no db') as info:
        load_target(f'{project.name}:broken', factory=True, working_dir=project.root)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(StartupError, match='not callable'):
        load_target(f'{project.name}:value', factory=True, working_dir=project.root)


@pytest.fixture
def env_names(monkeypatch):
    names = [f'GRANIAN_TEST_{uuid.uuid4().hex[:8].upper()}_{i}' for i in range(3)]
    for name in names:
        monkeypatch.delenv(name, raising=False)  # restored (removed) after the test
    return names


def test_env_files_never_override_and_later_files_win(tmp_path, env_names, monkeypatch):
    a, b, c = env_names
    monkeypatch.setenv(c, 'from-env')
    (tmp_path / 'one.env').write_text(f'{a}=one\n{b}=one\n{c}=one\n')
    (tmp_path / 'two.env').write_text(f'{b}=two\n')
    applied = load_env_files([tmp_path / 'one.env', str(tmp_path / 'two.env')])
    assert applied == {a: 'one', b: 'two'}
    assert (os.environ[a], os.environ[b], os.environ[c]) == ('one', 'two', 'from-env')
    assert load_env_files([]) == {}


def test_env_files_errors(tmp_path, monkeypatch):
    with pytest.raises(StartupError, match='does not exist'):
        load_env_files([tmp_path / 'missing.env'])
    monkeypatch.setitem(sys.modules, 'dotenv', None)
    with pytest.raises(StartupError, match='python-dotenv'):
        load_env_files([tmp_path / 'missing.env'])


def test_rsgi_plain_callable():
    async def app(scope, protocol):
        pass

    handler, init, delete = resolve_rsgi_app(app)
    assert handler is app
    assert init(object()) is None
    assert delete(object()) is None


def test_rsgi_object_with_hooks():
    calls = []

    class App:
        async def __call__(self, scope, receive, send):  # ASGI side
            pass

        async def __rsgi__(self, scope, protocol):
            pass

        def __rsgi_init__(self, loop):
            calls.append(('init', loop))

        def __rsgi_del__(self, loop):
            calls.append(('del', loop))

    app = App()
    handler, init, delete = resolve_rsgi_app(app)
    assert handler == app.__rsgi__
    init('loop')
    delete('loop')
    assert calls == [('init', 'loop'), ('del', 'loop')]


def test_rsgi_not_callable():
    with pytest.raises(StartupError, match='must be callable'):
        resolve_rsgi_app(42)
