"""One root error with the few subclasses callers handle differently.

Every error carries a message (what is wrong) and a hint (how to fix it). The CLI prints
both and exits with code 2 for :class:`PermanentError`; the API maps them to HTTP codes in
one handler. Kubernetes client errors are translated into these in ``cluster/`` only.

The same error reaches a terminal, a JSON body and a web page, so the hint speaks the spec
(a field as `` `serving.token.source` ``, then its value) or plain words, never a CLI flag.
A fix that each surface offers differently (the CLI has ``--config FILE``, the API and the
pages have no file to give) is a :class:`Remedy` code instead: each shell words every code in
one table of its own (``cli/output.py``, ``api/errors.py``, ``web/remedies.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence


class Remedy(enum.StrEnum):
    """A fix that each surface words its own way; the values are stable (API bodies carry them)."""

    MODEL_CONFIG = "model_config"  # plan from the model's config.json, not the Hub's
    HF_TOKEN_SECRET = "hf_token_secret"  # name the Secret that holds the Hugging Face token
    ALL_NAMESPACES = "all_namespaces"  # list the deployments of every namespace one may read
    OVERWRITE = "overwrite"  # write into a directory KubeFoundry did not write


class KubeFoundryError(Exception):
    """Root of every error KubeFoundry raises on purpose.

    ``remedies``: fixes the hint leaves to the surface (see :class:`Remedy`); a surface words
    them first, then the hint.
    """

    def __init__(
        self, message: str, *, hint: str | None = None, remedies: Sequence[Remedy] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.remedies = tuple(remedies)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class PermanentError(KubeFoundryError):
    """Retrying will not help: the request, the input or the cluster must change."""


class NotFoundError(PermanentError):
    """A name (model, GPU, tier, runtime, cloud) that is not known; suggests close matches."""

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        suggestions: Sequence[str] = (),
        hint: str | None = None,
        remedies: Sequence[Remedy] = (),
    ) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = tuple(suggestions)
        message = f"Unknown {kind} {name!r}."
        if self.suggestions:
            message += " Did you mean: " + ", ".join(self.suggestions) + "?"
        super().__init__(message, hint=hint, remedies=remedies)


class InvalidInputError(PermanentError):
    """Malformed or contradictory input (a file that does not parse, a bad value)."""


class DoesNotFitError(PermanentError):
    """The model cannot be placed under the given pins; the hint names the cheapest fixes.

    ``fixes`` holds the same fixes as request changes (field → value), each one already
    planned, for surfaces that word them their own way (a form, a JSON body).
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        fixes: Sequence[Mapping[str, object]] = (),
        remedies: Sequence[Remedy] = (),
    ) -> None:
        super().__init__(message, hint=hint, remedies=remedies)
        self.fixes = tuple(dict(f) for f in fixes)


class RetryableError(KubeFoundryError):
    """A transient failure (conflict, throttling, server error); try again after ``delay_s``."""

    def __init__(
        self,
        message: str,
        *,
        delay_s: float = 1.0,
        hint: str | None = None,
        remedies: Sequence[Remedy] = (),
    ) -> None:
        super().__init__(message, hint=hint, remedies=remedies)
        self.delay_s = delay_s
