"""Reading manifests: documents, lines, Lists, and clear errors for what cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.checks.support import SAMPLES, rules_of, run

from kubefoundry.checks import reading
from kubefoundry.core.errors import InvalidInputError

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def test_multi_document_files_skip_empty_documents_and_keep_lines() -> None:
    text = (
        "---\n"
        + CM.format(name="one")
        + "---\n---\n# only a comment\n---\n"
        + CM.format(name="two")
    )
    docs = reading.read_text(text, source="x.yaml")
    assert [d.name for d in docs] == ["one", "two"]
    assert [d.index for d in docs] == [1, 4]
    assert docs[0].line == 2
    assert text.splitlines()[docs[1].line - 1] == "apiVersion: v1"
    assert docs[1].ref().location == f"x.yaml:{docs[1].line} (document 4)"


def test_kind_list_is_unpacked() -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        f"  - {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{i}}}}}\n" for i in range(3)
    )
    assert [d.name for d in reading.read_text(text)] == ["c0", "c1", "c2"]


def test_directories_are_searched_recursively_sorted_and_hidden_skipped(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "b" / "two.yml").write_text(CM.format(name="two"))
    (tmp_path / "a.yaml").write_text(CM.format(name="one"))
    (tmp_path / "c.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "three"}}'
    )
    (tmp_path / ".git" / "x.yaml").write_text(CM.format(name="hidden"))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    assert [d.name for d in reading.read_paths([tmp_path])] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (
            "kind: ConfigMap\nmetadata:\n  name: x\n  labels: a: b\n",
            r"bad\.yaml:4:\d+: not valid YAML",
        ),
        ("a: [1, 2\n", r"bad\.yaml:2:\d+: not valid YAML"),
        ("a: 'unterminated\n", r"bad\.yaml:\d+:\d+: not valid YAML"),
    ],
)
def test_malformed_yaml_names_file_and_line(tmp_path: Path, text: str, expect: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(InvalidInputError, match=expect) as err:
        reading.read_paths([bad])
    assert err.value.hint


@pytest.mark.parametrize(
    "text",
    [
        "metadata:\n  name: {{ .Release.Name }}-vllm\n",  # Helm that happens to parse oddly
        'image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n',  # Helm that parses
        "name: {{ serviceName }}-hf-token\n",  # seed 002's template: does not parse
    ],
)
def test_helm_templates_ask_to_render_first(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text("apiVersion: apps/v1\nkind: Deployment\n" + text)
    with pytest.raises(InvalidInputError) as err:
        reading.read_paths([path])
    assert "helm template" in str(err.value).lower()
    assert "deployment.yaml:" in err.value.message


def test_a_chart_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("name: x\nversion: 0.1.0\n")
    with pytest.raises(InvalidInputError, match="Helm chart"):
        reading.read_paths([tmp_path])


def test_go_template_placeholders_that_are_not_helm_are_data() -> None:
    docs = reading.read_paths([SAMPLES / "kserve" / "kserve-vllmserver.yaml"])
    assert docs[0].kind == "ClusterServingRuntime"


@pytest.mark.parametrize("path", ["missing.yaml", "missing-dir/"])
def test_missing_paths_are_invalid_input(tmp_path: Path, path: str) -> None:
    with pytest.raises(InvalidInputError, match="No such file"):
        reading.read_paths([tmp_path / path])


def test_an_empty_folder_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"no \.yaml"):
        reading.read_paths([tmp_path])


def test_no_paths_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        reading.read_paths([])


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- a\n- b\n", "is a list"),
        ("just a string\n", "is a str"),
        ("metadata:\n  name: x\n", "no apiVersion and kind"),
        ("apiVersion: v1\nmetadata:\n  name: x\n", "no kind"),
    ],
)
def test_documents_that_are_not_objects_are_findings(text: str, says: str) -> None:
    findings = run(reading.read_text(text, source="odd.yaml"))
    assert rules_of(findings) == {"not-a-manifest"}
    assert says in findings[0].message
    assert findings[0].is_error
