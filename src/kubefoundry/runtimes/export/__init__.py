"""Rendered objects as files for GitOps: plain YAML, a Helm chart or a kustomize base.

Pure apart from the final write: ``files()`` builds every file in memory, ``write()`` puts
them on disk through ``placing`` (only into a new, empty or earlier-exported directory; never
half-written). For a TGI plan the Helm format is the seed's ``ML_INFERENCE_LOAD`` chart
(``tgichart``); every other runtime gets the generic chart (``helm``).

No format ever carries a token: objects reference the token's Secret by name, and a value
that looks like a Hugging Face token (``hf_…``) stops the export before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import get_args

from kubefoundry.core import choices
from kubefoundry.core.errors import InvalidInputError, Remedy
from kubefoundry.core.naming import dns_label
from kubefoundry.planning.plans import Plan
from kubefoundry.runtimes import tgi
from kubefoundry.runtimes.base import Manifest, Options, Rendered
from kubefoundry.runtimes.export import helm, kustomize, placing, tgichart, yamlfiles

Format = choices.ExportFormat
FORMATS: tuple[Format, ...] = get_args(Format)
_TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")  # the shape of a Hugging Face access token


def files(manifests: Sequence[Manifest], *, fmt: Format, name: str) -> dict[str, str]:
    """Every file of the export (relative path → text), nothing written."""
    _check_name(name)
    if fmt == "yaml":
        return yamlfiles.files(manifests)
    if fmt == "kustomize":
        return kustomize.files(manifests)
    return helm.files(manifests, name=name)


def rendered_files(
    rendered: Rendered, plan: Plan, options: Options, *, fmt: Format
) -> dict[str, str]:
    """Like ``files``, but a TGI plan exported as Helm is the seed's ML_INFERENCE_LOAD chart."""
    if fmt == "helm" and rendered.runtime == tgi.NAME:
        return tgichart.files(plan, options)
    return files(rendered.manifests, fmt=fmt, name=plan.name)


def write(
    manifests: Sequence[Manifest],
    *,
    fmt: Format,
    directory: Path,
    name: str,
    overwrite: bool = False,
) -> list[Path]:
    """Export ``manifests`` into ``directory``; returns the files written, in order."""
    out = files(manifests, fmt=fmt, name=name)
    return save(out, directory=directory, fmt=fmt, name=name, overwrite=overwrite)


def write_rendered(
    rendered: Rendered,
    plan: Plan,
    options: Options,
    *,
    fmt: Format,
    directory: Path,
    overwrite: bool = False,
) -> list[Path]:
    """What ``kubefoundry render -o DIR --format FMT`` writes for one rendered plan."""
    out = rendered_files(rendered, plan, options, fmt=fmt)
    return save(out, directory=directory, fmt=fmt, name=plan.name, overwrite=overwrite)


def save(
    out: Mapping[str, str], *, directory: Path, fmt: str, name: str, overwrite: bool = False
) -> list[Path]:
    """Check ``out`` for tokens, then place it (see ``placing``)."""
    refuse_tokens(out)
    return placing.place(out, directory=directory, fmt=fmt, name=name, overwrite=overwrite)


def refuse_tokens(out: Mapping[str, str]) -> None:
    for path, text in out.items():
        if _TOKEN.search(text):
            raise InvalidInputError(
                f"Refusing to export: {path} would contain what looks like a Hugging Face "
                "token (hf_…). Nothing was written.",
                hint="Or give an ExternalSecret's store path (`serving.token.remote_key`); "
                "never the token itself.",
                remedies=(Remedy.HF_TOKEN_SECRET,),
            )


def _check_name(name: str) -> None:
    if dns_label(name) != name:
        raise InvalidInputError(
            f"Export name {name!r} is not a DNS label (lower-case letters, digits, '-').",
            hint=f"Use {dns_label(name)!r}.",
        )
