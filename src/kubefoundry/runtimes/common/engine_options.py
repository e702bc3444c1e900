"""What each engine version accepts on its command line, as versioned package data.

``data/engines/<engine>-<version>.json`` holds one engine release's options, read from that
release's own source by ``scripts/refresh_engine_options.py`` (the file says from where, how
and when). :func:`command_line_problems`, :func:`key_problems` and :func:`env_problems`
say what a rendered command line, engine config or launcher environment asks for that the
release would refuse, naming the option and the version.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from kubefoundry.core.errors import InvalidInputError

SCHEMA_VERSION = 1
TITLES = {"vllm": "vLLM", "tgi": "TGI"}
# The engine whose options each runtime's command lines and configs are checked against
# (tests/unit/runtimes/test_engine_options.py finds exactly these in every sample's render).
# Kept here, not in each runtime module, while those modules are being changed by others;
# it belongs beside each runtime's cluster_side once they settle.
RUNTIME_ENGINES = {
    "vllm": "vllm",
    "lws": "vllm",
    "kserve": "vllm",
    "llmd": "vllm",
    "kuberay": "vllm",  # Ray Serve's engine_kwargs
    "dynamo": "vllm",  # dynamo.vllm's vLLM flags
    "kaito": "vllm",  # inference_config.yaml's vllm: keys
    "tgi": "tgi",
}


def validated(runtime: str) -> str:
    """``"vLLM 0.19.0, 0.34.0"``: the releases whose options ``runtime``'s renders are
    checked against ("" for a runtime with none)."""
    engine = RUNTIME_ENGINES.get(runtime)
    versions = [v for e, v in available() if e == engine]
    return f"{TITLES.get(engine or '', engine)} {', '.join(versions)}" if versions else ""


@dataclasses.dataclass(frozen=True)
class Accepted:
    """One option: ``takes_value`` (the next word is its value), ``negatable`` (``--no-x``),
    ``choices`` (None: any value)."""

    name: str
    takes_value: bool = True
    negatable: bool = False
    choices: tuple[str, ...] | None = None
    env: str | None = None


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    engine: str
    version: str
    program: str
    source: Mapping[str, Any]
    obtained: str
    options: Mapping[str, Accepted]
    aliases: Mapping[str, str]  # short or extra spelling → long name
    environment: frozenset[str]  # variables read outside the options (TGI)

    @property
    def title(self) -> str:
        return f"{TITLES.get(self.engine, self.engine)} {self.version}"

    def find(self, flag: str) -> tuple[Accepted | None, bool]:
        """(the option ``flag`` names, whether it is the ``--no-`` form); ``--x_y`` is ``--x-y``
        as vLLM's parser reads it."""
        if flag in self.aliases:
            return self.options[self.aliases[flag]], False
        name = flag.lstrip("-").replace("_", "-")
        if name in self.options:
            return self.options[name], False
        negated = self.options.get(name.removeprefix("no-")) if name.startswith("no-") else None
        if negated is not None and negated.negatable:
            return negated, True
        return None, False

    def suggest(self, name: str) -> str:
        close = difflib.get_close_matches(name.lstrip("-"), list(self.options), n=1)
        return f" (did you mean --{close[0]}?)" if close else ""

    @property
    def env_names(self) -> frozenset[str]:
        return frozenset(o.env for o in self.options.values() if o.env) | self.environment


def available() -> tuple[tuple[str, str], ...]:
    """Every (engine, version) with data, in name order."""
    folder = resources.files("kubefoundry.runtimes").joinpath("data/engines")
    names = sorted(p.name.removesuffix(".json") for p in folder.iterdir())
    return tuple((n.split("-", 1)[0], n.split("-", 1)[1]) for n in names if "-" in n)


def has(engine: str, version: str) -> bool:
    return (engine, version) in available()


@functools.lru_cache(maxsize=16)
def load(engine: str, version: str) -> EngineOptions:
    path = resources.files("kubefoundry.runtimes").joinpath(f"data/engines/{engine}-{version}.json")
    if not path.is_file():
        known = ", ".join(f"{e} {v}" for e, v in available() if e == engine) or "none"
        raise InvalidInputError(
            f"No option data for {TITLES.get(engine, engine)} {version} (have: {known}).",
            hint=f"Run: python scripts/refresh_engine_options.py {engine} {version}",
        )
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise InvalidInputError(f"{path.name}: schema_version {raw.get('schema_version')!r}.")
    options = {name: _accepted(name, o) for name, o in raw["options"].items()}
    aliases = {a: name for name, o in raw["options"].items() for a in o.get("aliases", ())}
    return EngineOptions(
        engine=raw["engine"],
        version=raw["version"],
        program=raw["program"],
        source=raw["source"],
        obtained=raw["obtained"],
        options=options,
        aliases=aliases,
        environment=frozenset(raw.get("environment", ())),
    )


def _accepted(name: str, raw: Mapping[str, Any]) -> Accepted:
    choices = raw.get("choices")
    return Accepted(
        name=name,
        takes_value=bool(raw["takes_value"]),
        negatable=bool(raw.get("negatable", False)),
        choices=tuple(choices) if choices is not None else None,
        env=raw.get("env"),
    )


def command_line_problems(engine: EngineOptions, words: Sequence[str]) -> list[str]:
    """What ``engine`` would refuse in ``words`` (the flags after the program and its model):
    an unknown flag, a switch given a value, a value missing or not among the choices."""
    problems: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or word == "-":
            problems.append(f"{engine.title} {engine.program}: unexpected argument {word!r}")
            continue
        flag, eq, value = word.partition("=")
        option, negated = engine.find(flag)
        if option is None:
            problems.append(
                f"{engine.title} {engine.program} has no option {flag}{engine.suggest(flag)}"
            )
            if not eq and i < len(words) and not words[i].startswith("-"):
                i += 1  # its value, most likely: one problem, not two
            continue
        if not option.takes_value or negated:
            if eq:
                problems.append(f"{engine.title}: {flag} takes no value, got {value!r}")
            continue
        if not eq:
            if i >= len(words) or (words[i].startswith("--") and not _is_json(words[i])):
                problems.append(f"{engine.title}: {flag} needs a value")
                continue
            value, i = words[i], i + 1
        problems += _value_problems(engine, flag, option, value)
    return problems


def key_problems(engine: EngineOptions, keys: Mapping[str, Any], *, where: str) -> list[str]:
    """Config keys (``tensor_parallel_size`` or ``max-model-len``) ``engine`` does not take."""
    problems = []
    for key, value in keys.items():
        option, _ = engine.find(str(key))
        if option is None:
            problems.append(f"{where}: {engine.title} has no option {key!r}{engine.suggest(key)}")
        elif option.takes_value and not isinstance(value, dict | list):
            problems += _value_problems(engine, str(key), option, _text(value))
    return problems


def env_problems(engine: EngineOptions, names: Iterable[str], *, also: Iterable[str]) -> list[str]:
    """Variables neither an option of ``engine``, read by it, nor among ``also``."""
    known = engine.env_names | frozenset(also)
    return [
        f"{engine.title} {engine.program} reads no environment variable {name}"
        for name in names
        if name not in known
    ]


def env_value_problems(engine: EngineOptions, env: Mapping[str, str]) -> list[str]:
    by_env = {o.env: o for o in engine.options.values() if o.env}
    return [
        problem
        for name, value in env.items()
        if name in by_env
        for problem in _value_problems(engine, name, by_env[name], value)
    ]


def _value_problems(engine: EngineOptions, flag: str, option: Accepted, value: str) -> list[str]:
    if option.choices is None or value in option.choices:
        return []
    return [f"{engine.title}: {flag} {value!r} is not one of {', '.join(option.choices)}"]


def _is_json(word: str) -> bool:
    return word.startswith(("{", "["))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
