"""The engines judge our command lines (issue 11): every engine command line, engine config
and launcher environment a runtime renders is accepted by the engine release it runs.

What each release accepts is data read from that release's own source
(``src/kubefoundry/runtimes/data/engines``, refreshed by ``scripts/refresh_engine_options.py``):
vLLM's ``vllm serve`` parser, TGI's launcher options. Every sample of the explanation tests
is rendered (each runtime, each variant) for each vLLM release with data, and:

- ``vllm serve`` flags (container args, ``sh -c`` scripts, KServe's model args,
  ``VLLM_ADDITIONAL_ARGS``, ``python3 -m dynamo.vllm`` worker args), Ray Serve's
  ``engine_kwargs`` and KAITO's ``inference_config.yaml`` ``vllm:`` keys are options of vLLM,
  with a value where one is needed and one of the choices where the parser has choices;
- TGI's environment variables are launcher options (or read by the launcher) of the pinned
  release, with allowed values.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from tests.unit.runtimes import test_explanations as explained

from kubefoundry.checks import engines
from kubefoundry.runtimes import base, registry, tgi
from kubefoundry.runtimes.common import engine_options
from kubefoundry.runtimes.common.engine_options import EngineOptions

VLLM_VERSIONS = tuple(v for e, v in engine_options.available() if e == "vllm")
# Dynamo's own worker flags (``dynamo.vllm`` adds them to vLLM's); not in the vLLM data.
DYNAMO_FLAGS = {"--disaggregation-mode"}
# Variables other programs in TGI's image read (huggingface_hub's token, the CUDA runtime).
TGI_OTHER_ENV = {"HF_HOME", "HF_HUB_OFFLINE", "HUGGING_FACE_HUB_TOKEN"}


@dataclasses.dataclass(frozen=True)
class Line:
    """One engine input found in a render: where, which engine, what it says."""

    where: str
    engine: str  # "vllm" or "tgi"
    words: tuple[str, ...] = ()  # command-line flags (after the program and the model)
    keys: Mapping[str, Any] | None = None  # a config mapping of engine options
    env: Mapping[str, str] | None = None  # a launcher's environment


def engine_lines(manifests: tuple[dict[str, Any], ...]) -> list[Line]:
    out: list[Line] = []
    for m in manifests:
        ref = f"{m['kind']}/{m['metadata']['name']}"
        for path, node in _dicts(m, ref):
            out += _container_lines(path, node)
        if m["kind"] == "RayService":
            out += _ray_lines(ref, yaml.safe_load(m["spec"]["serveConfigV2"]))
        if m["kind"] == "ConfigMap" and "inference_config.yaml" in m.get("data", {}):
            config = yaml.safe_load(m["data"]["inference_config.yaml"])
            out.append(Line(f"{ref} inference_config.yaml vllm", "vllm", keys=config["vllm"]))
    return out


def _dicts(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _dicts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _dicts(value, f"{path}[{i}]")


def _container_lines(path: str, node: dict[str, Any]) -> list[Line]:
    out = []
    env = {e["name"]: e.get("value") for e in node.get("env", []) if isinstance(e, dict)}
    if "VLLM_ADDITIONAL_ARGS" in env:
        words = tuple(shlex.split(env["VLLM_ADDITIONAL_ARGS"]))
        out.append(Line(f"{path} VLLM_ADDITIONAL_ARGS", "vllm", words))
    if "text-generation-inference" in str(node.get("image", "")):
        given = {k: v for k, v in env.items() if v is not None}
        names = {e["name"]: "" for e in node["env"]}
        out.append(Line(f"{path}.env", "tgi", env={**names, **given}))
    if "modelFormat" in node and node.get("args"):  # KServe: args follow the runtime's command
        out.append(Line(f"{path}.args", "vllm", _after_model(node["args"])))
        return out
    command = [str(w) for w in (*node.get("command", []), *node.get("args", []))]
    if not command or not isinstance(node.get("name"), str):
        return out
    for words in _vllm_invocations(command):
        out.append(Line(f"{path}.args", "vllm", words))
    return out


def _vllm_invocations(command: list[str]) -> Iterator[tuple[str, ...]]:
    """The flags of each ``vllm serve MODEL …`` or ``python3 -m dynamo.vllm …`` in a
    command (a shell script's lines included)."""
    lines = [command]
    if command[:2] in (["/bin/sh", "-c"], ["sh", "-c"], ["bash", "-c"]):  # the engine's lines
        script = "\n".join(command[2:]).splitlines()
        lines = [shlex.split(line) for line in script if "vllm serve" in line or "dynamo." in line]
    for words in lines:
        if "dynamo.vllm" in words:
            yield tuple(words[words.index("dynamo.vllm") + 1 :])
        for i in range(len(words) - 1):
            if words[i].rsplit("/", 1)[-1] == "vllm" and words[i + 1] == "serve":
                yield _after_model(words[i + 2 :])


def _after_model(words: list[Any]) -> tuple[str, ...]:
    text = [str(w) for w in words]
    return tuple(text[1:] if text and not text[0].startswith("-") else text)


def _ray_lines(ref: str, config: dict[str, Any]) -> list[Line]:
    return [
        Line(f"{ref} serveConfigV2 {app['name']} engine_kwargs", "vllm", keys=llm["engine_kwargs"])
        for app in config["applications"]
        for llm in app["args"]["llm_configs"]
    ]


def problems(lines: list[Line], *, vllm_version: str) -> list[str]:
    out = []
    for line in lines:
        engine = _engine(line.engine, vllm_version)
        if line.keys is not None:
            found = engine_options.key_problems(engine, line.keys, where=line.where)
        elif line.env is not None:
            found = engine_options.env_problems(engine, line.env, also=TGI_OTHER_ENV)
            found += engine_options.env_value_problems(engine, line.env)
        else:
            words = _without_dynamo_flags(line.words)
            found = engine_options.command_line_problems(engine, words)
        out += [f"{line.where}: {p}" for p in found]
    return out


def _engine(name: str, vllm_version: str) -> EngineOptions:
    version = tgi.VERSION if name == "tgi" else vllm_version
    return engine_options.load(name, version)


def _without_dynamo_flags(words: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in DYNAMO_FLAGS:
            skip = True
        else:
            out.append(word)
    return out


def _render(name: str, vllm_version: str) -> tuple[base.Rendered, list[Line]]:
    sample = explained.SAMPLES[name]
    pins = {**dict(sample.pins), "vllm_version": vllm_version}
    served = explained.serve(dataclasses.replace(sample, pins=tuple(pins.items())))
    return served.rendered, engine_lines(served.rendered.manifests)


# --- the tests ------------------------------------------------------------------------------


def test_there_is_data_for_the_default_vllm_and_the_pinned_tgi() -> None:
    from kubefoundry.core import choices

    assert choices.DEFAULT_VLLM_VERSION in VLLM_VERSIONS
    assert engine_options.has("tgi", tgi.VERSION)
    for engine, version in engine_options.available():
        data = engine_options.load(engine, version)
        assert data.source["url"], data.title
        assert data.obtained, data.title
        assert data.options, data.title


@pytest.mark.parametrize("vllm_version", VLLM_VERSIONS)
@pytest.mark.parametrize("name", sorted(explained.SAMPLES))
def test_every_engine_input_we_render_is_accepted(name: str, vllm_version: str) -> None:
    _, lines = _render(name, vllm_version)
    runtime = registry.default().get(explained.SAMPLES[name].runtime)
    assert lines, f"{runtime.name}: no engine command line or config found in the render"
    assert problems(lines, vllm_version=vllm_version) == []


# Samples of the runtimes whose image brings a vLLM of its own (KubeRay's ray-llm, Dynamo's
# runtime image), with that release.
BUNDLED = {
    name: bundled
    for name, sample in sorted(explained.SAMPLES.items())
    if (bundled := base.bundled_vllm(registry.default().get(sample.runtime), sample.options))
}


def test_kuberay_and_dynamo_bring_their_own_vllm() -> None:
    runtimes = {explained.SAMPLES[name].runtime for name in BUNDLED}
    assert runtimes == {"kuberay", "dynamo"}


@pytest.mark.parametrize(("name", "bundled"), sorted(BUNDLED.items()))
def test_a_runtime_whose_image_brings_its_vllm_is_judged_by_that_release(
    name: str, bundled: str
) -> None:
    """There is data for the image's vLLM, the plan is made for it, and what is rendered is
    accepted by it."""
    assert engine_options.has("vllm", bundled), f"run refresh_engine_options.py vllm {bundled}"
    served = explained.serve(explained.SAMPLES[name])
    assert served.plan.engine_version == bundled
    assert problems(engine_lines(served.rendered.manifests), vllm_version=bundled) == []


def test_every_runtime_has_a_sample_and_says_which_engine_judges_it() -> None:
    sampled = {s.runtime for s in explained.SAMPLES.values()}
    names = {r.name for r in registry.default().all()}
    assert sampled == names
    assert set(engine_options.RUNTIME_ENGINES) == names
    for name, sample in explained.SAMPLES.items():
        _, lines = _render(name, VLLM_VERSIONS[-1])
        assert {line.engine for line in lines} == {engine_options.RUNTIME_ENGINES[sample.runtime]}
    assert engine_options.validated("vllm") == f"vLLM {', '.join(VLLM_VERSIONS)}"
    assert engine_options.validated("tgi") == f"TGI {tgi.VERSION}"


# --- the check catches what an engine would refuse ------------------------------------------


def test_a_misspelt_flag_is_named_with_the_version() -> None:
    vllm = engine_options.load("vllm", VLLM_VERSIONS[0])
    words = ["--tensor-parallel-size", "2", "--max-model-lenn", "8192"]
    assert engine_options.command_line_problems(vllm, words) == [
        f"vLLM {VLLM_VERSIONS[0]} vllm serve has no option --max-model-lenn "
        "(did you mean --max-model-len?)"
    ]


def test_a_misspelt_flag_in_a_render_is_caught() -> None:
    rendered, _ = _render("vllm", VLLM_VERSIONS[-1])
    manifests = _replace_word(rendered.manifests, "--max-model-len", "--max-model-length")
    found = problems(engine_lines(manifests), vllm_version=VLLM_VERSIONS[-1])
    assert len(found) == 1
    assert f"vLLM {VLLM_VERSIONS[-1]} vllm serve has no option --max-model-length" in found[0]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["--dtype", "bf16"], "--dtype 'bf16' is not one of auto, bfloat16"),
        (["--enable-prefix-caching", "true"], "unexpected argument 'true'"),
        (["--enable-prefix-caching=true"], "--enable-prefix-caching takes no value"),
        (["--max-model-len"], "--max-model-len needs a value"),
        (["--no-max-model-len"], "has no option --no-max-model-len"),
    ],
)
def test_values_and_switches_are_checked(words: list[str], expected: str) -> None:
    vllm = engine_options.load("vllm", VLLM_VERSIONS[0])
    (found,) = engine_options.command_line_problems(vllm, words)
    assert expected in found


@pytest.mark.parametrize(
    "words", [["--no-enable-prefix-caching"], ["--max_model_len", "8k"], ["-tp", "2"]]
)
def test_what_vllms_parser_accepts_passes(words: list[str]) -> None:
    vllm = engine_options.load("vllm", VLLM_VERSIONS[0])
    assert engine_options.command_line_problems(vllm, words) == []


def test_engine_config_keys_and_tgi_environment_are_checked() -> None:
    vllm = engine_options.load("vllm", VLLM_VERSIONS[0])
    keys = {"tensor_parallel_size": 2, "max_num_seq": 8}
    (found,) = engine_options.key_problems(vllm, keys, where="engine_kwargs")
    assert "has no option 'max_num_seq' (did you mean --max-num-seqs?)" in found
    tgi_data = engine_options.load("tgi", tgi.VERSION)
    env = {"MAX_TOTAL_TOKENS": "4096", "MAX_INPUT_TOKEN": "4095", "DTYPE": "bf16", "HF_TOKEN": ""}
    found = engine_options.env_problems(tgi_data, env, also=())
    found += engine_options.env_value_problems(tgi_data, env)
    assert found == [
        f"TGI {tgi.VERSION} text-generation-launcher reads no environment variable MAX_INPUT_TOKEN",
        f"TGI {tgi.VERSION}: DTYPE 'bf16' is not one of bfloat16, float16",
    ]


def test_the_engine_args_reader_agrees_on_the_flags() -> None:
    """The checks' own reader of engine flags sees the same flags the data judges."""
    rendered, lines = _render("vllm", VLLM_VERSIONS[0])
    container = rendered.manifests[0]["spec"]["template"]["spec"]["containers"][0]
    flags = set(engines.from_container(container).flags)
    judged = {w.lstrip("-") for w in lines[0].words if w.startswith("--")}
    assert judged <= flags | {"no-" + f for f in flags}


def _replace_word(
    manifests: tuple[dict[str, Any], ...], old: str, new: str
) -> tuple[dict[str, Any], ...]:
    text = yaml.safe_dump_all(list(manifests)).replace(f"- {old}\n", f"- {new}\n")
    return tuple(yaml.safe_load_all(text))
