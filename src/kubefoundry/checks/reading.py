"""Read manifests from files, directories or standard input into :class:`Document` s.

Multi-document YAML (and JSON) files; directories are searched recursively for ``*.yaml``,
``*.yml`` and ``*.json``. Empty documents are skipped; ``kind: List`` documents (what
``kubectl get -o yaml`` prints) are unpacked into their items. What cannot be read at all
raises :class:`InvalidInputError` naming the file and line: a missing path, YAML that does
not parse, an unrendered Helm chart or template. A YAML error never quotes the offending
line, since that line may hold a token.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import yaml

from kubefoundry.checks.documents import Document
from kubefoundry.checks.findings import HF_TOKEN
from kubefoundry.core.errors import InvalidInputError

SUFFIXES = (".yaml", ".yml", ".json")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STDIN = "-"
# Helm's own identifiers. Other Go templates ("{{.Name}}" in KServe runtimes, "{{ $labels }}"
# in alert rules) are plain strings to YAML; a Helm template that does not parse is caught
# by the parse error, which then points at Helm.
_HELM = re.compile(
    r"\{\{-?\s*(\.Values|\.Release|\.Chart|\.Capabilities|\.Files|\.Template|include\s"
    r"|tpl\s|toYaml\s|define\s)"
)
_HELM_HINT = (
    "Render it first: helm template RELEASE CHART -f values.yaml > rendered.yaml, "
    "then run kubefoundry check rendered.yaml."
)


def read_paths(paths: Sequence[Path | str]) -> list[Document]:
    """Every document in ``paths`` (files, directories, or ``-`` for standard input)."""
    if not paths:
        raise InvalidInputError("No files to check.", hint="Give one or more files or folders.")
    documents: list[Document] = []
    for path in paths:
        if str(path) == STDIN:
            documents += read_text(sys.stdin.read(), source="<stdin>")
            continue
        for file in _files(Path(path)):
            documents += read_text(_read(file), source=str(file))
    return documents


def read_text(text: str, *, source: str = "<input>") -> list[Document]:
    """The documents in one YAML/JSON text; raises InvalidInputError if it does not parse."""
    helm = _HELM.search(text)
    if helm:
        line = text.count("\n", 0, helm.start()) + 1
        raise InvalidInputError(
            f"{source}:{line}: this is a Helm template ({{{{ … }}}}), not a manifest.",
            hint=_HELM_HINT,
        )
    documents: list[Document] = []
    for index, (obj, line) in enumerate(_parse(text, source), start=1):
        if obj is None:
            continue
        if isinstance(obj, Mapping) and _is_list(obj):
            documents += [
                Document(obj=item, source=source, index=index, line=line) for item in obj["items"]
            ]
        else:
            documents.append(Document(obj=obj, source=source, index=index, line=line))
    return documents


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.exists():
        raise InvalidInputError(
            f"No such file or directory: {path}.", hint="Check the path and try again."
        )
    if (path / "Chart.yaml").is_file():
        raise InvalidInputError(f"{path} is a Helm chart, not manifests.", hint=_HELM_HINT)
    files = sorted(
        f
        for f in path.rglob("*")
        if f.is_file()
        and f.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in f.relative_to(path).parts)
    )
    if not files:
        raise InvalidInputError(
            f"{path} holds no .yaml, .yml or .json files.", hint="Point at your manifests."
        )
    return files


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"{file} is not UTF-8 text.", hint="Check only YAML or JSON manifests."
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {file}: {exc.strerror}.") from None


def _parse(text: str, source: str) -> Iterator[tuple[object, int]]:
    """(object, 1-based first line) for each document, empty ones included as None."""
    loader = _LOADER(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 0
            yield (loader.construct_document(node) if node is not None else None), line
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = HF_TOKEN.sub("hf_…", exc.problem or exc.context or "invalid YAML")
        hint = "Fix the YAML syntax at that line (indentation, a missing ':' or quote)."
        if "{{" in text:
            hint = "It contains '{{': if it is a Helm template, " + _HELM_HINT[0].lower()
            hint += _HELM_HINT[1:]
        raise InvalidInputError(f"{where}: not valid YAML: {problem}.", hint=hint) from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"{source}: not valid YAML ({type(exc).__name__}).", hint="Fix the YAML syntax."
        ) from None
    finally:
        loader.dispose()


def _is_list(obj: Mapping[str, object]) -> bool:
    return (
        str(obj.get("kind", "")).endswith("List")
        and isinstance(obj.get("items"), list)
        and "spec" not in obj
    )
