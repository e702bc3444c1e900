"""The explicit list of runtimes, looked up by name with close-match suggestions on a typo."""

from __future__ import annotations

from collections.abc import Iterable

from kubefoundry.core.errors import NotFoundError
from kubefoundry.core.naming import suggest
from kubefoundry.runtimes import dynamo, kaito, kserve, kuberay, llmd, lws, tgi, vllm
from kubefoundry.runtimes.base import Runtime


class Registry:
    def __init__(self, runtimes: Iterable[Runtime]) -> None:
        self._by_name = {r.name: r for r in runtimes}

    def get(self, name: str) -> Runtime:
        key = name.strip().lower()
        if key in self._by_name:
            return self._by_name[key]
        raise NotFoundError(
            kind="runtime",
            name=name,
            suggestions=suggest(name, self._by_name),
            hint="Valid runtimes: " + ", ".join(self._by_name) + ".",
        )

    def all(self) -> tuple[Runtime, ...]:
        return tuple(self._by_name.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)


def default() -> Registry:
    """Every runtime KubeFoundry renders, in the order it prefers them when nothing is pinned."""
    return Registry(
        [
            vllm.VllmRuntime(),
            lws.LwsRuntime(),
            kserve.KServeRuntime(),
            llmd.LlmdRuntime(),
            kuberay.KubeRayRuntime(),
            dynamo.DynamoRuntime(),
            kaito.KaitoRuntime(),
            tgi.TgiRuntime(),
        ]
    )
