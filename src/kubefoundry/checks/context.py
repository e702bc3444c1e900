"""Everything a rule may consult besides the object it checks, built once per run."""

from __future__ import annotations

import dataclasses

from kubefoundry.catalog import gpus, instances, models
from kubefoundry.checks.documents import Document
from kubefoundry.checks.schemas import Schemas
from kubefoundry.core.facts import ClusterFacts


@dataclasses.dataclass(frozen=True)
class Catalogs:
    """The catalogs rules size things with: models by Hugging Face id, GPUs, instance types."""

    models: models.ModelCatalog
    gpus: gpus.GpuCatalog
    instances: instances.InstanceCatalog

    @classmethod
    def load(cls) -> Catalogs:
        return cls(models=models.ModelCatalog.load(), gpus=gpus.load(), instances=instances.load())


@dataclasses.dataclass(frozen=True)
class Context:
    documents: tuple[Document, ...]
    schemas: Schemas
    catalogs: Catalogs
    facts: ClusterFacts | None = None

    def find(self, kind: str, name: str, namespace: str | None) -> Document | None:
        """The object of ``kind`` called ``name`` among the checked documents, if any.

        A missing namespace matches any: files often leave it to ``kubectl -n``.
        """
        for doc in self.documents:
            same_ns = namespace is None or doc.namespace is None or doc.namespace == namespace
            if doc.kind == kind and doc.name == name and same_ns:
                return doc
        return None
