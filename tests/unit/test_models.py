"""The curated model catalog: every entry parses, is sane, and is found by the names people type."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from tests.conftest import CONFIGS

from kubefoundry.catalog import models
from kubefoundry.core.errors import InvalidInputError, NotFoundError

CATALOG = models.ModelCatalog.load()
ENTRIES = CATALOG.all()
REQUIRED_IDS = [
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.1-405B-Instruct",
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct-AWQ",
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-14B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-235B-A22B",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "microsoft/Phi-3-mini-4k-instruct",
    "microsoft/phi-4",
    "google/gemma-2-2b-it",
    "google/gemma-2-9b-it",
    "google/gemma-2-27b-it",
    "google/gemma-3-4b-it",
    "google/gemma-3-12b-it",
    "google/gemma-3-27b-it",
    "deepseek-ai/DeepSeek-R1",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "deepseek-ai/DeepSeek-V2-Lite-Chat",
    "openai/gpt-oss-20b",
    "openai/gpt-oss-120b",
    "ibm-granite/granite-3.1-2b-instruct",
    "ibm-granite/granite-3.1-8b-instruct",
    "ibm-granite/granite-3.3-8b-instruct",
    "tiiuae/Falcon3-7B-Instruct",
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic",
    "RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16",
    "codellama/CodeLlama-7b-hf",
]


def by_id(model_id: str) -> models.ModelEntry:
    return next(e for e in ENTRIES if e.id == model_id)


def test_catalog_holds_the_required_models() -> None:
    assert len(CATALOG) >= 32
    assert sorted(set(REQUIRED_IDS) - {e.id for e in ENTRIES}) == []
    assert len({e.id for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_is_sane(entry: models.ModelEntry) -> None:
    a = entry.arch
    assert entry.curated
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.id)
    assert entry.source == f"https://huggingface.co/{entry.id}"
    assert (entry.params or 0) > 10**8
    assert min(a.num_layers, a.hidden_size, a.intermediate_size) > 0
    assert a.vocab_size > 30000
    assert len(a.layer_kinds) == a.num_layers
    if a.mla is None:  # MLA has no per-head K/V; its head_dim is not a cache dimension
        assert a.head_dim in (64, 96, 128, 256)
        assert a.num_attention_heads % a.num_kv_heads == 0
    assert 0 < entry.context_length <= a.max_position_embeddings
    assert set(entry.engines) <= set(models.ENGINES)
    assert entry.engines
    assert entry.quantization == (a.quantization.method if a.quantization else "none")
    assert (entry.active_params is not None) == (a.moe is not None)
    if entry.active_params is not None:
        assert entry.active_params < entry.params / 2
    assert entry.task == ("multimodal" if a.vision else "text-generation")
    assert all((entry.config_source, entry.params_source, entry.license))


def _dense_param_count(c: Mapping[str, Any]) -> int:
    """Llama-style decoder: attention + gated MLP + two RMSNorms a layer, plus embeddings."""
    hidden, layers = c["hidden_size"], c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads", heads)
    head_dim = c.get("head_dim") or hidden // heads
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
    per_layer = attention + 3 * hidden * c["intermediate_size"] + 2 * hidden
    embeddings = c["vocab_size"] * hidden * (1 if c.get("tie_word_embeddings", True) else 2)
    return layers * per_layer + embeddings + hidden


DENSE = [
    e
    for e in ENTRIES
    if e.arch.model_type in ("llama", "mistral", "qwen2", "qwen3", "granite", "phi3")
    and e.arch.moe is None
]


@pytest.mark.parametrize("entry", DENSE, ids=lambda e: e.id)
def test_dense_params_agree_with_a_count_from_the_config(entry: models.ModelEntry) -> None:
    assert entry.params == pytest.approx(_dense_param_count(entry.config), rel=0.02)


def test_the_catalog_spans_every_attention_kind_and_quantization() -> None:
    kinds = {e.arch.attention_family for e in ENTRIES}
    assert {"gqa", "mha", "moe+gqa", "moe+mla", "hybrid-sliding", "moe+hybrid-sliding"} <= kinds
    assert {"fp8", "w4a16", "w8a8", "awq", "mxfp4"} <= {e.quantization for e in ENTRIES}
    assert any(e.task == "multimodal" for e in ENTRIES)


# Published shapes the memory model depends on (layers, hidden, heads, kv heads, head_dim,
# intermediate, vocab, sliding window, tied embeddings).
SHAPES = [
    ("google/gemma-3-4b-it", 34, 2560, 8, 4, 256, 10240, 262208, 1024, True),
    ("google/gemma-3-12b-it", 48, 3840, 16, 8, 256, 15360, 262208, 1024, True),
    ("google/gemma-3-27b-it", 62, 5376, 32, 16, 128, 21504, 262208, 1024, True),
    ("google/gemma-2-27b-it", 46, 4608, 32, 16, 128, 36864, 256000, 4096, True),
    ("ibm-granite/granite-3.1-2b-instruct", 40, 2048, 32, 8, 64, 8192, 49155, None, True),
    ("codellama/CodeLlama-7b-hf", 32, 4096, 32, 32, 128, 11008, 32016, None, False),
    ("meta-llama/Llama-3.1-405B-Instruct", 126, 16384, 128, 8, 128, 53248, 128256, None, False),
    ("tiiuae/Falcon3-7B-Instruct", 28, 3072, 12, 4, 256, 23040, 131072, None, False),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s[0])
def test_transcribed_shapes(shape: tuple[Any, ...]) -> None:
    model_id, layers, hidden, heads, kv, head_dim, inter, vocab, window, tied = shape
    a = by_id(model_id).arch
    got = (a.num_layers, a.hidden_size, a.num_attention_heads, a.num_kv_heads, a.head_dim)
    assert got == (layers, hidden, heads, kv, head_dim)
    assert (a.intermediate_size, a.vocab_size, a.sliding_window) == (inter, vocab, window)
    assert a.tie_word_embeddings is tied


def test_gemma3_uses_five_sliding_layers_per_global_one() -> None:
    kinds = by_id("google/gemma-3-4b-it").arch.layer_kinds
    assert kinds[:6] == ("sliding",) * 5 + ("full",)
    assert kinds.count("full") == 34 // 6
    assert by_id("codellama/CodeLlama-7b-hf").arch.max_position_embeddings == 16384


def test_aliases_are_unique_across_the_catalog() -> None:
    owners: dict[str, str] = {}
    for entry in ENTRIES:
        for name in {entry.id, entry.id.split("/")[-1], entry.name, *entry.aliases}:
            key = models.name_key(name)
            assert owners.setdefault(key, entry.id) == entry.id, f"{name!r} is ambiguous"


@pytest.mark.parametrize(
    ("org", "gated"),
    [
        ("meta-llama", True),
        ("google", True),
        ("mistralai", True),
        ("Qwen", False),
        ("deepseek-ai", False),
        ("microsoft", False),
        ("ibm-granite", False),
        ("openai", False),
    ],
)
def test_gated_flags_follow_the_publisher(org: str, gated: bool) -> None:
    entries = [e for e in ENTRIES if e.id.startswith(org + "/")]
    assert {e.gated for e in entries} == {gated}


def test_engine_claims_that_are_known_false_are_absent() -> None:
    assert "tgi" not in by_id("openai/gpt-oss-20b").engines
    for entry in ENTRIES:
        if entry.quantization in ("awq", "w4a16", "w8a8") or entry.id.startswith("RedHatAI/"):
            assert "llamacpp" not in entry.engines  # llama.cpp serves GGUF files only


@pytest.mark.parametrize(
    ("typed", "model_id"),
    [
        ("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct"),
        ("Llama 3.1 8B Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("META-LLAMA/llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("https://huggingface.co/Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
        ("qwen3 30b a3b", "Qwen/Qwen3-30B-A3B"),
        ("gemma_3_4b", "google/gemma-3-4b-it"),
        ("gpt-oss-120b", "openai/gpt-oss-120b"),
        ("llama-3.1-8b-w4a16", "RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w4a16"),
    ],
)
def test_get_resolves_ids_names_and_aliases(typed: str, model_id: str) -> None:
    assert CATALOG.get(typed).id == model_id
    assert typed in CATALOG


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("lama-3.1-8b", "llama-3.1-8b"),
        ("qwen3-8", "qwen3-8b"),
        ("mixtral", "mixtral-8x7b"),
        ("gpt-oss", "gpt-oss-20b"),
        ("meta-llama/Llama-3.1-8B-Instrukt", "meta-llama/Llama-3.1-8B-Instruct"),
    ],
)
def test_unknown_names_suggest_close_matches(typo: str, expected: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        CATALOG.get(typo)
    assert caught.value.kind == "model"
    assert expected in caught.value.suggestions
    assert "Hugging Face id" in (caught.value.hint or "")


def test_families_and_read_only_config() -> None:
    assert {"llama", "qwen", "gemma", "deepseek", "gpt-oss", "mistral"} <= set(CATALOG.families())
    entry = by_id("openai/gpt-oss-20b")
    with pytest.raises(TypeError):
        entry.config["hidden_size"] = 1  # type: ignore[index]
    plain = entry.config_dict()
    assert isinstance(plain["layer_types"], list)
    plain["hidden_size"] = 1
    assert entry.config["hidden_size"] == 2880
    assert json.loads(json.dumps(entry.config)) == entry.config_dict()


def _shared_file(entry: models.ModelEntry) -> str | None:
    match = re.search(r"hf-configs/(\S+?\.json)", entry.config_source)
    return match.group(1) if match else None


COPIED = [e for e in ENTRIES if _shared_file(e)]


@pytest.mark.parametrize("entry", COPIED, ids=lambda e: e.id)
def test_copied_configs_equal_the_shared_file_except_declared_edits(
    entry: models.ModelEntry,
) -> None:
    path = CONFIGS / str(_shared_file(entry))
    if not path.exists():
        pytest.skip(f"shared hf-configs not available at {CONFIGS}")
    original = json.loads(path.read_text())
    for noise in ("auto_map", "id2label", "label2id"):
        original.pop(noise, None)
    ours = entry.config_dict()
    changed = {k for k in set(original) | set(ours) if original.get(k) != ours.get(k)}
    assert changed == set(entry.config_edits)


def test_import_does_no_work_and_pulls_in_no_hub_client() -> None:
    code = (
        "import sys, kubefoundry.catalog.models, kubefoundry.catalog.hub; "
        "print('huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- validation


def _record(**changes: Any) -> dict[str, Any]:
    record = yaml.safe_load(
        """
        id: acme/tiny-llama
        name: Tiny
        family: llama
        params: 1235814400
        params_source: derived-from-config
        native_dtype: bf16
        gated: false
        license: apache-2.0
        task: text-generation
        engines: [vllm]
        context_length: 8192
        source: https://huggingface.co/acme/tiny-llama
        as_of: 2026-11-23
        config_source: test
        """
    )
    record["config"] = by_id("meta-llama/Llama-3.2-1B-Instruct").config_dict()
    record.update(changes)
    return record


def _load(*records: dict[str, Any], version: int = 1) -> models.ModelCatalog:
    text = yaml.safe_dump({"schema_version": version, "models": list(records)})
    return models.ModelCatalog.from_yaml(text, origin="test.yaml")


def test_a_valid_minimal_catalog_loads() -> None:
    catalog = _load(_record())
    assert catalog.get("tiny-llama").arch.num_layers == 16


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([_record(engines=["vllm", "ollama"])], "acme/tiny-llama"),
        ([_record(gated="sometimes")], "field gated"),
        ([_record(surprise=1)], "surprise"),
        ([_record(quantization="fp8")], "quantization is 'fp8'"),
        ([_record(context_length=10**7)], "exceeds"),
        ([_record(), _record(id="acme/other", aliases=["tiny"])], "share the name"),
        (
            [_record(config=by_id("Qwen/Qwen3-30B-A3B").config_dict())],
            "mixture-of-experts model needs active_params",
        ),
        ([_record(config={"model_type": "llama"})], "lacks the field"),
    ],
)
def test_invalid_catalogs_are_rejected_with_the_culprit_named(
    records: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        _load(*records)


def test_wrong_schema_version_and_bad_yaml_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="schema_version must be 1"):
        _load(_record(), version=2)
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        models.ModelCatalog.from_yaml("models: [", origin="broken.yaml")
    with pytest.raises(InvalidInputError, match="Cannot read model catalog"):
        models.ModelCatalog.load("/nonexistent/models.yaml")


def test_entries_copy_pickle_and_serialise_without_thawing() -> None:
    entry = by_id("google/gemma-3-4b-it")
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert copy.deepcopy(entry).config is entry.config  # immutable: shared, not copied
    as_dict = dataclasses.asdict(entry)
    assert as_dict["config"]["text_config"]["num_hidden_layers"] == 34
    assert json.loads(json.dumps(as_dict, default=str))["id"] == entry.id
    for mutate in (lambda c: c.update(x=1), lambda c: c.pop("model_type"), lambda c: c.clear()):
        with pytest.raises(TypeError, match="read-only"):
            mutate(entry.config)
