"""Read a YAML or JSON file into a pydantic model, with errors that name the bad field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from kubefoundry.core.errors import InvalidInputError

M = TypeVar("M", bound=BaseModel)


# The safe loader, libyaml's where PyYAML was built with it (several times faster on the
# catalogs every plan reads and the CRD schemas every check reads), else Python's.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """YAML (or JSON) text as Python data, parsed safely with ``YAML_LOADER``."""
    return yaml.load(text, Loader=YAML_LOADER)


def load_yaml_model(path: Path, model: type[M], *, what: str, hint: str) -> M:
    try:
        raw = parse_yaml(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"No such file: {path}.", hint=hint) from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"{path} is not valid YAML/JSON: {exc}", hint="Fix the syntax and try again."
        ) from None
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(f"{loc or '(root)'}: {msg}" for loc, msg in field_errors(exc))
        raise InvalidInputError(f"{path} is not a valid {what}: {problems}.", hint=hint) from None


def field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted field path, message) for each problem pydantic found."""
    return [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()]
