"""Python sources read with ``ast``: classes, their fields, type aliases, argparse calls.

The engines build their parsers from dataclass fields and ``add_argument`` calls; importing
them needs torch and CUDA, so the refresh reads the same code as syntax instead. Where the
syntax does not say for sure (an alias it cannot resolve, a value a function computes), the
reading is permissive: it never rejects what the engine's own parser would accept.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from engine_options.options import Option, merge


@dataclasses.dataclass(frozen=True)
class Kinds:
    """What a type annotation allows, as get_kwargs-style parsers read it."""

    has_bool: bool = False
    has_str: bool = False
    has_none: bool = False
    unknown: bool = False  # a name or construct this reading cannot resolve
    literals: tuple[tuple[str, ...], ...] = ()  # one tuple of values per Literal[...]

    def __or__(self, other: Kinds) -> Kinds:
        return Kinds(
            has_bool=self.has_bool or other.has_bool,
            has_str=self.has_str or other.has_str,
            has_none=self.has_none or other.has_none,
            unknown=self.unknown or other.unknown,
            literals=self.literals + other.literals,
        )

    def choices(self) -> list[str] | None:
        """The parser's ``choices``: one Literal, no ``str`` beside it (else a metavar)."""
        if self.has_bool or self.has_str or self.unknown or len(self.literals) != 1:
            return None
        return sorted(self.literals[0]) + (["None"] if self.has_none else [])


class Source:
    """Every module under ``root`` (a package directory), parsed once."""

    def __init__(self, root: Path, *, prefix: str) -> None:
        self.root = root
        self.modules: dict[str, ast.Module] = {}
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root.parent).as_posix()
            try:
                self.modules[relative] = ast.parse(path.read_text(encoding="utf-8"))
            except SyntaxError:  # newer syntax than this Python reads; not a parser module
                continue
        self.classes: dict[str, list[ast.ClassDef]] = {}
        self.aliases: dict[str, ast.expr] = {}
        for relative, module in self.modules.items():
            preferred = relative.startswith(prefix)
            for node in module.body:
                if isinstance(node, ast.ClassDef):
                    found = self.classes.setdefault(node.name, [])
                    found.insert(0, node) if preferred else found.append(node)
                elif alias := _alias(node):
                    self.aliases.setdefault(alias[0], alias[1])

    def module(self, relative: str) -> ast.Module:
        return self.modules[relative]

    def find_class(self, name: str) -> ast.ClassDef | None:
        found = self.classes.get(name)
        return found[0] if found else None

    def fields(self, name: str) -> dict[str, ast.expr]:
        """A dataclass's annotated fields, its bases' first (``ClassVar`` and private left out)."""
        cls = self.find_class(name)
        if cls is None:
            return {}
        out: dict[str, ast.expr] = {}
        for base in cls.bases:
            if isinstance(base, ast.Name):
                out.update(self.fields(base.id))
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if "ClassVar" in ast.unparse(node.annotation) or node.target.id.startswith("_"):
                    continue
                out[node.target.id] = node.annotation
        return out

    def method(self, class_name: str, name: str) -> tuple[ast.FunctionDef, str] | None:
        """``class_name.name`` or the first base that defines it, with the defining class."""
        cls = self.find_class(class_name)
        if cls is None:
            return None
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node, class_name
        for base in cls.bases:
            if isinstance(base, ast.Name) and (found := self.method(base.id, name)):
                return found
        return None

    def kinds(self, annotation: ast.expr, depth: int = 0) -> Kinds:
        """What ``annotation`` allows; aliases resolved across the whole source."""
        if depth > 8:
            return Kinds(unknown=True)
        match annotation:
            case ast.Constant(value=None):
                return Kinds(has_none=True)
            case ast.Constant(value=str() as text):
                return self.kinds(ast.parse(text, mode="eval").body, depth + 1)
            case ast.BinOp(op=ast.BitOr(), left=left, right=right):
                return self.kinds(left, depth + 1) | self.kinds(right, depth + 1)
            case ast.Name(id="bool"):
                return Kinds(has_bool=True)
            case ast.Name(id="str"):
                return Kinds(has_str=True)
            case ast.Name(id="int" | "float" | "dict" | "list" | "Any"):
                return Kinds()
            case ast.Name(id=name) | ast.Attribute(attr=name):
                if name in self.aliases:
                    return self.kinds(self.aliases[name], depth + 1)
                # A class of this source or another package's type (torch.dtype) is a
                # value, not a choice; a bare name not found here may be a str alias.
                known = name in self.classes or isinstance(annotation, ast.Attribute)
                return Kinds() if known else Kinds(unknown=True)
            case ast.Subscript(value=value, slice=inner):
                return self._subscript(_name(value), inner, depth)
        return Kinds(unknown=True)

    def _subscript(self, outer: str, inner: ast.expr, depth: int) -> Kinds:
        parts = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        if outer == "Literal":
            values = [p.value for p in parts if isinstance(p, ast.Constant)]
            if len(values) != len(parts):
                return Kinds(unknown=True)
            return Kinds(literals=(tuple(str(v) for v in values),))
        if outer in ("Optional", "Union"):
            out = Kinds(has_none=outer == "Optional")
            for part in parts:
                out = out | self.kinds(part, depth + 1)
            return out
        if outer == "Annotated":
            return self.kinds(parts[0], depth + 1)
        return Kinds()  # list[...], dict[...], type[...]: a value, not a choice


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _alias(node: ast.stmt) -> tuple[str, ast.expr] | None:
    """``X = Literal[...]`` / ``X: TypeAlias = ...`` at module level (type-like values only)."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        target, value = node.target, node.value
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    if isinstance(value, ast.Subscript | ast.BinOp) or (
        isinstance(value, ast.Name) and value.id in ("str", "bool", "int", "float")
    ):
        return target.id, value
    return None


def flag_option(call: ast.Call, source: Source, kwargs_of: dict[str, str]) -> Option | None:
    """The option one ``add_argument("--long", "-s", ...)`` call declares."""
    words = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    longs = [w[2:] for w in words if w.startswith("--")]
    if not longs:
        return None
    option = Option(name=longs[0], aliases=[w for w in words if w[2:] != longs[0]])
    for keyword in call.keywords:
        _read_keyword(option, keyword.arg, keyword.value, source=source, kwargs_of=kwargs_of)
    return option


def _read_keyword(
    option: Option,
    arg: str | None,
    value: ast.expr,
    *,
    source: Source,
    kwargs_of: dict[str, str],
) -> None:
    if arg is None and isinstance(value, ast.Dict):  # **{**model_kwargs["x"], "default": …}
        for key, item in zip(value.keys, value.values, strict=True):
            name = key.value if isinstance(key, ast.Constant) else None
            if key is None or isinstance(name, str):
                _read_keyword(
                    option,
                    name if isinstance(name, str) else None,
                    item,
                    source=source,
                    kwargs_of=kwargs_of,
                )
    elif arg is None:  # **model_kwargs["field"]: the config field's own reading
        field = _spread_field(value, kwargs_of)
        if field:
            _read_field(option, source.kinds(source.fields(field[0])[field[1]]))
    elif arg == "action":
        _read_action(option, value)
    elif arg == "choices":
        option.choices = _constants(value)
    elif arg == "nargs" and _constant(value) in (0, "?", "*"):
        option.takes_value = _constant(value) != 0


def field_option(name: str, annotation: ast.expr, source: Source) -> Option:
    option = Option(name=name.replace("_", "-"))
    _read_field(option, source.kinds(annotation))
    return option


def _read_field(option: Option, kinds: Kinds) -> None:
    if kinds.has_bool:  # get_kwargs: bool fields get argparse.BooleanOptionalAction
        option.takes_value, option.negatable, option.choices = False, True, None
    else:
        option.choices = kinds.choices()


def _read_action(option: Option, action: ast.expr) -> None:
    name = _constant(action) if isinstance(action, ast.Constant) else _name(action)
    if name in ("store_true", "store_false", "store_const", "count", "help", "version"):
        option.takes_value, option.choices = False, None
    elif name == "BooleanOptionalAction":
        option.takes_value, option.negatable, option.choices = False, True, None


def _spread_field(node: ast.expr, kwargs_of: dict[str, str]) -> tuple[str, str] | None:
    """``model_kwargs["max_model_len"]`` → (``ModelConfig``, ``max_model_len``)."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id in kwargs_of
        and isinstance(node.slice, ast.Constant)
    ):
        return kwargs_of[node.value.id], str(node.slice.value)
    return None


def _constant(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def _constants(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(values) == len(node.elts):
            return sorted(str(v) for v in values)
    return None  # computed: not known from the source, so not restricted here


def calls(node: ast.AST, attr: str) -> Iterator[ast.Call]:
    for child in ast.walk(node):
        func = child.func if isinstance(child, ast.Call) else None
        if isinstance(child, ast.Call) and isinstance(func, ast.Attribute) and func.attr == attr:
            yield child


def add_all(into: dict[str, Option], options: list[Option]) -> None:
    for option in options:
        merge(into, option)
