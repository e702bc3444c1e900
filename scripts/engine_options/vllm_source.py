"""``vllm serve``'s options, read from a vLLM source tree the way its parser is built.

``vllm serve`` builds its parser in ``make_arg_parser`` (``entrypoints/openai/cli_args.py``
up to the early 0.2x, ``entrypoints/launchers/cli_args.py`` in 0.29-0.31,
``entrypoints/common/cli_args.py`` later): a few ``add_argument`` calls, then
``FrontendArgs.add_cli_args`` (one ``--kebab-case`` flag per dataclass field) and
``AsyncEngineArgs.add_cli_args`` → ``EngineArgs.add_cli_args`` (``add_argument`` calls whose
settings come from config dataclass fields through ``get_kwargs``). ``get_kwargs`` gives a
``bool`` field ``argparse.BooleanOptionalAction`` (``--x`` and ``--no-x``) and a ``Literal``
field its values as ``choices`` unless ``str`` is allowed beside them. The serve
subcommand adds its own flags in ``entrypoints/cli/serve.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from engine_options import pysource
from engine_options.options import Option

_PARSER_MODULES = (
    "vllm/entrypoints/common/cli_args.py",
    "vllm/entrypoints/launchers/cli_args.py",
    "vllm/entrypoints/openai/cli_args.py",
)
_SERVE_MODULE = "vllm/entrypoints/cli/serve.py"


def serve_options(package: Path) -> tuple[dict[str, Option], list[str]]:
    """(every ``vllm serve`` option by long name, the source files read) for ``package``
    (the ``vllm/`` directory of an unpacked sdist or wheel)."""
    source = pysource.Source(package, prefix="vllm/config/")
    options: dict[str, Option] = {}
    read: list[str] = []
    for relative in _PARSER_MODULES:
        if relative in source.modules:
            fn = _function(source.module(relative), "make_arg_parser")
            if fn is not None:
                _walk(fn, source=source, cls=None, into=options, seen=set())
                read.append(relative)
                break
    else:
        raise SystemExit(f"no make_arg_parser in {' or '.join(_PARSER_MODULES)}")
    serve = source.modules.get(_SERVE_MODULE)
    if serve is not None:
        fn = _function(serve, "subparser_init")
        if fn is not None:
            _walk(fn, source=source, cls=None, into=options, seen=set())
            read.append(_SERVE_MODULE)
    read.append("vllm/engine/arg_utils.py")
    return options, read


def _walk(
    fn: ast.FunctionDef,
    *,
    source: pysource.Source,
    cls: str | None,
    into: dict[str, Option],
    seen: set[str],
) -> None:
    """The options ``fn`` adds: its own ``add_argument`` calls, the field loops, and the
    ``X.add_cli_args(parser)`` calls it makes (followed into X)."""
    kwargs_of = _kwargs_sources(fn, cls)
    for call in pysource.calls(fn, "add_argument"):
        option = pysource.flag_option(call, source, kwargs_of)
        if option is not None:
            pysource.add_all(into, [option])
    for loop in ast.walk(fn):
        if isinstance(loop, ast.For) and (owner := _field_loop(loop, kwargs_of)):
            pysource.add_all(into, _field_options(owner, source))
    for call in pysource.calls(fn, "add_cli_args"):
        target = _target_class(call, cls, source)
        if target and target not in seen:
            found = source.method(target, "add_cli_args")
            if found:
                _walk(found[0], source=source, cls=target, into=into, seen={*seen, target})


def _kwargs_sources(fn: ast.FunctionDef, cls: str | None) -> dict[str, str]:
    """``model_kwargs = get_kwargs(ModelConfig)`` → {"model_kwargs": "ModelConfig"}."""
    out: dict[str, str] = {}
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        func = node.value.func
        named = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if named not in ("get_kwargs", "_compute_kwargs") or not node.value.args:
            continue
        arg = node.value.args[0]
        owner = cls if isinstance(arg, ast.Name) and arg.id in ("cls", "self") else None
        owner = owner or (arg.id if isinstance(arg, ast.Name) else None)
        for target in node.targets:
            if isinstance(target, ast.Name) and owner:
                out[target.id] = owner
    return out


def _field_loop(loop: ast.For, kwargs_of: dict[str, str]) -> str | None:
    """``for key, value in frontend_kwargs.items(): ...add_argument(f"--{key...}")``."""
    it = loop.iter
    if not (
        isinstance(it, ast.Call)
        and isinstance(it.func, ast.Attribute)
        and it.func.attr == "items"
        and isinstance(it.func.value, ast.Name)
        and it.func.value.id in kwargs_of
    ):
        return None
    adds = any(
        any(isinstance(a, ast.JoinedStr) for a in call.args)
        for call in pysource.calls(loop, "add_argument")
    )
    return kwargs_of[it.func.value.id] if adds else None


def _field_options(owner: str, source: pysource.Source) -> list[Option]:
    """One flag per field of ``owner``; a field its ``_customize_cli_kwargs`` retypes keeps
    no choices, one it deletes is left out."""
    customised, deleted = _customisations(owner, source)
    out = []
    for name, annotation in source.fields(owner).items():
        if name in deleted:
            continue
        option = pysource.field_option(name, annotation, source)
        if name in customised:
            option.choices = None
        out.append(option)
    return out


def _customisations(owner: str, source: pysource.Source) -> tuple[set[str], set[str]]:
    found = source.method(owner, "_customize_cli_kwargs")
    if found is None:
        return set(), set()
    customised: set[str] = set()
    deleted: set[str] = set()
    for node in ast.walk(found[0]):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript):
            key = node.value.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                customised.add(key.value)
        if isinstance(node, ast.Delete):
            for target in node.targets:
                match target:
                    case ast.Subscript(value=ast.Name(), slice=ast.Constant(value=deleted_key)):
                        deleted.add(str(deleted_key))
    return customised, deleted


def _target_class(call: ast.Call, cls: str | None, source: pysource.Source) -> str | None:
    func = call.func
    assert isinstance(func, ast.Attribute)
    value = func.value
    if isinstance(value, ast.Name):
        return cls if value.id in ("cls", "self") else value.id
    if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "super" and cls:
        definition = source.find_class(cls)
        bases = [b.id for b in (definition.bases if definition else []) if isinstance(b, ast.Name)]
        return bases[0] if bases else None
    return None


def _function(module: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in ast.walk(module):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None
