"""The cluster a cluster benchmark times against: the one a kubeconfig names, else a sandbox
started in a temporary folder for the length of the run (its start time on stderr)."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def cluster(kubeconfig: Path | None) -> Iterator[Path]:
    if kubeconfig is not None:
        yield kubeconfig
        return
    from kubefoundry.checks import schemas
    from kubefoundry.sandbox import building, running, starting

    began = time.perf_counter()
    binaries = building.build(operators=())  # the runtimes' operators are not timed here
    with tempfile.TemporaryDirectory(prefix="kf-bench-") as workdir:
        crds = running.crd_files(schemas.default_crd_dirs())
        with starting.started(binaries, workdir=Path(workdir), crds=crds) as sandbox:
            print(f"sandbox up in {time.perf_counter() - began:.0f}s", file=sys.stderr)
            yield sandbox.kubeconfig
