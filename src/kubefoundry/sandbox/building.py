"""Build the sandbox's binaries from Go modules, once: ``scripts/testcluster-build``.

The build script (in a KubeFoundry checkout, beside ``hack/testcluster``) builds the control
plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler in one binary), kwok, the
LeaderWorkerSet controller, llm-d-inference-sim (the fake model server) and the operators the
sandbox runs (KubeRay's, KAITO's, KServe's two and KEDA's) into
``~/.cache/kubefoundry/testcluster/<k8s version>/bin``, with Prometheus (which the sandbox
scrapes the model servers with) and KEDA's metrics adapter, reusing what is there; the first build
takes several minutes. Its output lines are handed to ``on_output`` as they come, so the CLI
can show progress.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from kubefoundry.core.errors import InvalidInputError, PermanentError

SCRIPT = Path("scripts") / "testcluster-build"
MODULE = Path("hack") / "testcluster" / "go.mod"
GO_INSTALL_HINT = (
    "Install Go 1.24 or newer from https://go.dev/dl/ (or `apt install golang-go`, "
    "`brew install go`), make sure `go` is on PATH, then run the command again. Go downloads "
    "the Kubernetes modules from its module proxy; nothing else is downloaded."
)


# The runtimes' real operators the sandbox can run, each with its CRDs (the same module
# version's, so the CRDs and the controller agree).
OPERATORS = ("kuberay", "kaito", "kserve", "llmisvc", "keda")
BASE = ("testcluster", "kwok", "lws", "sim", "prometheus")


@dataclasses.dataclass(frozen=True)
class Operator:
    binary: Path
    crds: Path  # a folder of controller-gen CRD files
    config: Path | None = None  # the module's config folder, where the operator needs it
    adapter: Path | None = None  # KEDA's metrics adapter, built from the operator's module


@dataclasses.dataclass(frozen=True)
class Binaries:
    testcluster: Path  # etcd, apiserver, controller-manager, scheduler, keygen, certgen
    kwok: Path  # plays the kubelet of the fake nodes
    lws: Path  # the LeaderWorkerSet controller
    operators: dict[str, Operator] = dataclasses.field(default_factory=dict)  # by OPERATORS key
    sim: Path | None = None  # llm-d-inference-sim: the model server at each pod's address
    prometheus: Path | None = None  # scrapes the model servers; KEDA's scaler queries it


def checkout(start: Path | None = None) -> Path:
    """The KubeFoundry checkout this package runs from (it holds hack/testcluster)."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        if (parent / MODULE).is_file() and (parent / SCRIPT).is_file():
            return parent
    raise InvalidInputError(
        "The sandbox builds its Kubernetes control plane from the Go module in "
        "hack/testcluster of a KubeFoundry checkout, and this installation has none.",
        hint="Clone the KubeFoundry repository and run `scripts/kubefoundry sandbox up` there.",
    )


def require_go() -> str:
    """The path of ``go``, or a clear error saying how to install it."""
    go = shutil.which("go")
    if go is None:
        raise InvalidInputError(
            "The sandbox builds Kubernetes from Go modules and needs the Go toolchain; "
            "`go` is not on PATH.",
            hint=GO_INSTALL_HINT,
        )
    return go


def build(
    *,
    root: Path | None = None,
    on_output: Callable[[str], None] | None = None,
    operators: Sequence[str] = OPERATORS,
) -> Binaries:
    """Build what is missing (or reuse the cache) and return the binaries' paths: the control
    plane, kwok, LWS and the ``operators`` named (all by default; none builds none)."""
    unknown = sorted(set(operators) - set(OPERATORS))
    if unknown:
        raise InvalidInputError(
            f"Unknown sandbox operator {', '.join(unknown)}.",
            hint=f"The sandbox can run: {', '.join(OPERATORS)}.",
        )
    found = _run(root, [*BASE, *operators], on_output)
    return Binaries(
        testcluster=Path(found["testcluster"]),
        kwok=Path(found["kwok"]),
        lws=Path(found["lws"]),
        sim=Path(found["sim"]),
        prometheus=Path(found["prometheus"]),
        operators={
            name: Operator(
                binary=Path(found[name]),
                crds=Path(found[f"{name}_crds"]),
                config=Path(found[f"{name}_config"]) if f"{name}_config" in found else None,
                adapter=Path(found[f"{name}_adapter"]) if f"{name}_adapter" in found else None,
            )
            for name in operators
        },
    )


def endpoint_picker(*, root: Path | None = None) -> Path:
    """The Gateway API inference extension's endpoint picker (``cmd/epp``), built or reused.
    The sandbox does not run it: one picker serves one InferencePool, so a test starts it
    against the pool it deployed."""
    return Path(_run(root, ["epp"], None)["epp"])


def _run(
    root: Path | None, components: Sequence[str], on_output: Callable[[str], None] | None
) -> dict[str, str]:
    """Run the build script for ``components``; its ``NAME=VALUE`` lines, by name."""
    require_go()
    root = root or checkout()
    env = dict(os.environ)
    if on_output is not None:
        env["KUBEFOUNDRY_BUILD_VERBOSE"] = "1"  # one line per Go package compiled
    said: list[str] = []
    with subprocess.Popen(
        [os.fspath(root / SCRIPT), *components],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stderr is not None
        assert proc.stdout is not None
        for line in proc.stderr:
            said.append(line.rstrip("\n"))
            if on_output is not None:
                on_output(line.rstrip("\n"))
        stdout = proc.stdout.read()
    if proc.wait() != 0:
        messages = [line for line in said if not is_package(line)]
        raise PermanentError(
            f"Building the sandbox failed ({root / SCRIPT}, exit {proc.returncode}):\n"
            + "\n".join(messages[-20:]),
            hint="Run scripts/testcluster-build in the checkout to see the whole output.",
        )
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def is_package(line: str) -> bool:
    """A Go package path that ``go build -v`` prints (not a message or an error)."""
    return bool(line) and " " not in line and not line.startswith("#")
