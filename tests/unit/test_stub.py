"""`python/granian/_granian.pyi` against the built `granian._granian`: the stub declares every
name the module exports and every method or attribute of its classes, and nothing else; getters
are properties (or attributes) and methods are functions; parameter names, kinds and defaults
match the engine's signatures."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import granian
from granian import _granian

STUB = Path(granian.__file__).with_name('_granian.pyi')
#: Dunder names that are part of a class's API (the others come with every object).
API_DUNDERS = {
    '__call__',
    '__aiter__',
    '__anext__',
    '__await__',
    '__iter__',
    '__next__',
    '__getitem__',
    '__contains__',
    '__len__',
}
#: What a stub may declare for a constructor the module exposes as `__new__`.
CONSTRUCTORS = {'__init__', '__new__'}


def _tree() -> ast.Module:
    return ast.parse(STUB.read_text(encoding='utf-8'), filename=str(STUB))


def _is_helper(node: ast.stmt) -> bool:
    """Stub-only typing helpers: `_T = TypeVar(...)` and `_X: TypeAlias = ...`."""
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
        func = node.value.func
        return isinstance(func, ast.Name) and func.id == 'TypeVar'
    if isinstance(node, ast.AnnAssign):
        ann = node.annotation
        return isinstance(ann, ast.Name) and ann.id == 'TypeAlias'
    return False


def _assigned(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def _module_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif not _is_helper(node):
            names.update(_assigned(node))
    return names


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _decorators(fn: ast.FunctionDef) -> set[str]:
    return {d.id if isinstance(d, ast.Name) else ast.unparse(d) for d in fn.decorator_list}


def _members(cls: ast.ClassDef) -> dict[str, list[ast.stmt]]:
    """Member name -> its declarations (several for `@overload`s)."""
    members: dict[str, list[ast.stmt]] = {}
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            members.setdefault(node.name, []).append(node)
        else:
            for name in _assigned(node):
                members.setdefault(name, []).append(node)
    return members


def _runtime_classes() -> dict[str, type]:
    return {name: obj for name in dir(_granian) if isinstance(obj := getattr(_granian, name), type)}


def _api_names(cls: type) -> set[str]:
    """The class's own API per `dir()`: what its bases do not already provide."""
    inherited = set().union(*(dir(base) for base in cls.__mro__[1:]))
    return {name for name in dir(cls) if name not in inherited and (not name.startswith('__') or name in API_DUNDERS)}


def _is_data(cls: type, name: str) -> bool:
    return inspect.isdatadescriptor(inspect.getattr_static(cls, name))


def _stub_is_data(decls: list[ast.stmt]) -> bool:
    return all(
        isinstance(d, ast.AnnAssign | ast.Assign) or (isinstance(d, ast.FunctionDef) and 'property' in _decorators(d))
        for d in decls
    )


def _stub_params(fn: ast.FunctionDef) -> list[tuple[str, object, object]]:
    """(name, kind, default) of the stub's parameters, without `self` / `cls`."""
    a = fn.args
    positional = [(p, inspect.Parameter.POSITIONAL_ONLY) for p in a.posonlyargs]
    positional += [(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in a.args]
    defaults = [inspect.Parameter.empty] * (len(positional) - len(a.defaults))
    defaults += [ast.literal_eval(d) for d in a.defaults]
    params = [(p.arg, kind, d) for (p, kind), d in zip(positional, defaults, strict=True)]
    if a.vararg:
        params.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.empty))
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        default = inspect.Parameter.empty if d is None else ast.literal_eval(d)
        params.append((p.arg, inspect.Parameter.KEYWORD_ONLY, default))
    if a.kwarg:
        params.append((a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, inspect.Parameter.empty))
    return params[1:]  # self / cls


def _runtime_params(sig: inspect.Signature, *, bound: bool) -> list[tuple[str, object, object]]:
    params = [(p.name, p.kind, p.default) for p in sig.parameters.values()]
    return params[1:] if bound else params


def test_stub_declares_every_module_name_and_nothing_else():
    declared = _module_names(_tree())
    exported = {n for n in dir(_granian) if not n.startswith('__')} | {'__version__', '__all__'}
    assert sorted(exported - declared) == [], 'exported by granian._granian but missing from the stub'
    assert sorted(declared - set(dir(_granian))) == [], 'declared in the stub but not in granian._granian'


def test_stub_all_matches_the_module():
    for node in _tree().body:
        if '__all__' in _assigned(node):
            assert ast.literal_eval(node.value) == list(_granian.__all__)
            return
    pytest.fail('the stub does not declare __all__')


def test_stub_value_types():
    tree = _tree()
    annotations = {
        node.target.id: ast.unparse(node.annotation)
        for node in tree.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    assert annotations['__version__'] == 'str' and isinstance(_granian.__version__, str)
    assert annotations['BUILD_GIL'] == 'bool' and isinstance(_granian.BUILD_GIL, bool)


@pytest.mark.parametrize('name', sorted(_runtime_classes()))
def test_stub_class_matches_the_module(name):
    cls = _runtime_classes()[name]
    stub = _classes(_tree())[name]
    members = _members(stub)

    bases = [ast.unparse(b).split('[')[0] for b in stub.bases if ast.unparse(b).split('[')[0] != 'Generic']
    assert bases == [b.__name__ for b in cls.__bases__ if b is not object]

    api = _api_names(cls)
    assert sorted(api - set(members)) == [], f'{name}: missing from the stub'
    extra = {m for m in members if m not in CONSTRUCTORS and m not in api}
    assert sorted(extra) == [], f'{name}: declared in the stub but not on the class'

    # A Python-side constructor exists exactly for the classes with a `#[new]`.
    assert bool(CONSTRUCTORS & set(members)) == ('__new__' in vars(cls)), f'{name}: constructor'
    for ctor in sorted(CONSTRUCTORS & set(members)):
        (decl,) = members[ctor]
        assert _stub_params(decl) == _runtime_params(inspect.signature(cls), bound=False), f'{name}.{ctor}'

    for member in sorted(api):
        decls = members[member]
        assert _stub_is_data(decls) == _is_data(cls, member), f'{name}.{member}: getter versus method'
        if _is_data(cls, member):
            continue
        try:
            sig = inspect.signature(getattr(cls, member))
        except (TypeError, ValueError):
            continue
        runtime = _runtime_params(sig, bound=True)
        if any(kind is inspect.Parameter.VAR_POSITIONAL for _, kind, _ in runtime):
            continue  # a slot wrapper such as `__call__(*args, **kwargs)`: nothing to compare
        for decl in decls:
            params = _stub_params(decl)
            if len(decls) > 1:  # overloads: each one is a leading part, without defaults
                assert [p[0] for p in params] == [p[0] for p in runtime[: len(params)]], f'{name}.{member}'
                continue
            if all(kind is inspect.Parameter.POSITIONAL_ONLY for _, kind, _ in runtime):
                params = [(n, inspect.Parameter.POSITIONAL_ONLY, d) for n, _, d in params]
            assert params == runtime, f'{name}.{member}: parameters'


def test_py_typed_marker_is_shipped_next_to_the_stub():
    assert STUB.with_name('py.typed').is_file()
