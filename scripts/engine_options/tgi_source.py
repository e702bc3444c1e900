"""``text-generation-launcher``'s options, read from its clap ``struct Args``.

The launcher (``launcher/src/main.rs`` of huggingface/text-generation-inference) declares
each option as a field of ``struct Args`` under ``#[clap(long, env, ...)]``: the flag is the
field in kebab-case, the environment variable the field in upper case, a ``bool`` field is a
switch, and a field of a ``ValueEnum`` type accepts its enum's variants in kebab-case (or their
``#[clap(name = "...")]``). The variables the launcher reads with ``env::var`` outside its
options (``HF_TOKEN``, ``PREFIX_CACHING``, …) are kept beside them.
"""

from __future__ import annotations

import re

from engine_options.options import Option

_ATTR = re.compile(r"#\[(?:clap|arg)\((.*)\)\]\s*$")
_FIELD = re.compile(r"^\s*(?:pub\s+)?(\w+)\s*:\s*(.+?),\s*$")
_ENUM = re.compile(
    r"#\[derive\([^)]*ValueEnum[^)]*\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub\s+)?enum\s+(\w+)\s*\{(.*?)\n\}",
    re.S,
)
_VARIANT = re.compile(r"^\s*(\w+)\s*(?:\(|,|\{|$)")
_NAME = re.compile(r'#\[(?:clap|value)\(.*?name\s*=\s*"([^"]+)"')
_ENV_READ = re.compile(r'env::var(?:_os)?\("([A-Z0-9_]+)"\)')


def launcher_options(text: str) -> tuple[dict[str, Option], list[str]]:
    """(every option by long name, the variables read outside the options) of ``main.rs``."""
    enums = _enums(text)
    body = _struct_body(text, "Args")
    options: dict[str, Option] = {}
    attrs: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith("///") or not stripped:
            continue
        if match := _ATTR.match(stripped):
            attrs.append(match[1])
            continue
        field = _FIELD.match(line)
        if field and attrs:
            option = _option(field[1], field[2], ", ".join(attrs), enums)
            if option is not None:
                options[option.name] = option
        attrs = []
    environment = sorted(set(_ENV_READ.findall(text)) - {o.env for o in options.values()})
    return options, environment


def _option(field: str, rust_type: str, attrs: str, enums: dict[str, list[str]]) -> Option | None:
    setting = dict(_settings(attrs))
    if "long" not in setting:
        return None
    name = setting["long"] or field.replace("_", "-")
    inner = re.sub(r"^(?:Option|Vec)<(.+)>$", r"\1", rust_type.strip())
    option = Option(name=name, takes_value=rust_type.strip() != "bool")
    if "env" in setting:
        option.env = setting["env"] or field.upper()
    if "short" in setting:
        option.aliases = ["-" + (setting["short"] or field[0])]
    if inner in enums:  # clap parses a ValueEnum type with or without `value_enum`
        option.choices = sorted(enums[inner])
    return option


def _settings(attrs: str) -> list[tuple[str, str]]:
    """``default_value = "2", long, env`` → [("default_value", "2"), ("long", ""), ...]."""
    out = []
    for part in re.findall(r'\w+(?:\s*=\s*(?:"[^"]*"|\'[^\']*\'|[\w:]+))?', attrs):
        key, _, value = part.partition("=")
        out.append((key.strip(), value.strip().strip("\"'")))
    return out


def _struct_body(text: str, name: str) -> str:
    match = re.search(rf"struct\s+{name}\s*\{{(.*?)\n\}}", text, re.S)
    if not match:
        raise SystemExit(f"no `struct {name}` in the launcher source")
    return match[1]


def _enums(text: str) -> dict[str, list[str]]:
    """Each ``ValueEnum``'s accepted values: clap's kebab-case of a variant, or its name."""
    out: dict[str, list[str]] = {}
    for match in _ENUM.finditer(text):
        values: list[str] = []
        renamed: str | None = None
        for line in match[2].splitlines():
            stripped = line.strip()
            if named := _NAME.search(stripped):
                renamed = named[1]
            elif stripped.startswith(("#", "//")) or not stripped:
                continue
            elif variant := _VARIANT.match(stripped):
                values.append(renamed or _kebab(variant[1]))
                renamed = None
        out[match[1]] = values
    return out


def _kebab(name: str) -> str:
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+", name)
    return "-".join(w.lower() for w in words)
