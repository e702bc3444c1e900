"""Where a deployment is on its way up, in words a person understands.

Pure: reads pods, events, recent log lines and the runtime's root object (plain dicts as the
API server returns them) and says which phase the slowest replica is in — scheduling,
pulling the image, downloading the model, loading it, ready — or that it failed, with the
reason taken from conditions, container states and events. The root is read the way its
runtime declares (``cluster_side``), found through the registry. ``cluster/`` supplies the
objects; the CLI and the web page choose colours and words around ``Phase``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubefoundry.core import identity
from kubefoundry.runtimes import registry
from kubefoundry.runtimes.cluster_side import Reading
from kubefoundry.runtimes.common import readiness


class Phase(enum.IntEnum):
    """Ordered: a deployment is as far as its slowest replica.

    ``code`` is the stable identifier machines read (``-o json``: ``pulling_image``);
    ``label`` the words a person reads ("pulling image"). Neither changes with the order.
    """

    FAILED = 0
    WAITING = 1  # objects applied, no pod yet (operator still reconciling)
    SCHEDULING = 2
    PULLING = 3
    DOWNLOADING = 4
    LOADING = 5
    READY = 6

    @property
    def is_terminal(self) -> bool:
        return self in (Phase.FAILED, Phase.READY)

    @property
    def is_failed(self) -> bool:
        return self is Phase.FAILED

    @property
    def code(self) -> str:
        return _WORDS[self][0]

    @property
    def label(self) -> str:
        return _WORDS[self][1]

    @classmethod
    def from_code(cls, code: str) -> Phase:
        for phase, (known, _) in _WORDS.items():
            if known == code:
                return phase
        raise ValueError(f"unknown phase {code!r}")


_WORDS = {  # phase: (code, label)
    Phase.FAILED: ("failed", "failed"),
    Phase.WAITING: ("waiting_for_operator", "waiting for the operator"),
    Phase.SCHEDULING: ("scheduling", "scheduling"),
    Phase.PULLING: ("pulling_image", "pulling image"),
    Phase.DOWNLOADING: ("downloading_model", "downloading model"),
    Phase.LOADING: ("loading_model", "loading model"),
    Phase.READY: ("ready", "ready"),
}
# Container waiting reasons that will not fix themselves.
_FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
_DOWNLOAD_HINTS = ("Downloading", "download", "Fetching", "snapshot_download")
_LOAD_HINTS = ("Loading weights", "Loading model", "Model loading took", "CUDA graph", "profil")


@dataclasses.dataclass(frozen=True)
class Progress:
    phase: Phase
    message: str
    ready: int = 0
    wanted: int = 0

    def to_dict(self) -> dict[str, Any]:
        """For ``-o json|yaml``: ``phase`` is the stable code, ``message`` the prose."""
        return {
            "phase": self.phase.code,
            "message": self.message,
            "ready": self.ready,
            "wanted": self.wanted,
        }


def of_pod(
    pod: Mapping[str, Any],
    *,
    events: Iterable[Mapping[str, Any]] = (),
    log_tail: Sequence[str] = (),
) -> Progress:
    """The phase of one pod, with the reason when it is stuck or failed."""
    status = pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    name = (pod.get("metadata") or {}).get("name", "?")
    if status.get("phase") == "Failed":
        return Progress(Phase.FAILED, f"pod {name} failed: {status.get('message') or 'no message'}")
    scheduled = conditions.get("PodScheduled")
    if not scheduled or scheduled.get("status") != "True":
        why = (scheduled or {}).get("message") or _last_event(events, "FailedScheduling")
        return Progress(Phase.SCHEDULING, why or f"pod {name} is waiting for a node")
    failure = _container_failure(status)
    if failure:
        return Progress(Phase.FAILED, f"pod {name}: {failure}")
    ready = conditions.get("Ready", {}).get("status") == "True"
    if ready:
        return Progress(Phase.READY, f"pod {name} is ready")
    if _waiting_for_image(status, events):
        return Progress(Phase.PULLING, _last_event(events, "Pulling") or "pulling the image")
    line = _last_matching(log_tail, _LOAD_HINTS + _DOWNLOAD_HINTS)
    if line and any(h in line for h in _DOWNLOAD_HINTS) and not any(h in line for h in _LOAD_HINTS):
        return Progress(Phase.DOWNLOADING, line.strip()[:160])
    return Progress(Phase.LOADING, (line or "the engine is starting").strip()[:160])


def of_pods(
    pods: Sequence[Mapping[str, Any]],
    *,
    wanted: int,
    events: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    logs: Mapping[str, Sequence[str]] | None = None,
) -> Progress:
    """The deployment's phase: failed if any pod failed, else its slowest pod's phase.

    Every pod's phase counts (a helper such as llm-d's endpoint picker that is not ready
    holds the deployment back), but only model-serving pods count as ready replicas: the
    picker's pod is progress, not a replica ("3/2 ready" was the picker counted)."""
    if not pods:
        return Progress(Phase.WAITING, "no pods yet", 0, wanted)
    per_pod = [
        of_pod(p, events=(events or {}).get(_name(p), ()), log_tail=(logs or {}).get(_name(p), ()))
        for p in pods
    ]
    ready = sum(
        p.phase is Phase.READY
        for p, pod in zip(per_pod, pods, strict=True)
        if identity.is_replica_pod(pod)
    )
    worst = min(per_pod, key=lambda p: p.phase)
    if worst.phase is Phase.READY and ready < wanted:
        # Every pod is ready, but fewer serve the model than wanted (only a helper, or some).
        noun = "replica exists" if wanted == 1 else "replicas exist"
        return Progress(Phase.SCHEDULING, f"{ready} of {wanted} {noun}", ready, wanted)
    return dataclasses.replace(worst, ready=ready, wanted=wanted)


def root_failure(
    root: Mapping[str, Any], *, runtimes: registry.Registry | None = None
) -> str | None:
    """A failure the runtime's operator reports on the root object's conditions, if any."""
    return _reading(root, runtimes).failure


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _container_failure(status: Mapping[str, Any]) -> str | None:
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _FATAL_WAITING:
            detail = waiting.get("message") or _last_termination(c)
            return f"container {c.get('name')} {waiting['reason']}" + (
                f": {detail}" if detail else ""
            )
        terminated = (c.get("lastState") or {}).get("terminated") or {}
        if terminated.get("reason") == "OOMKilled":
            return (
                f"container {c.get('name')} was OOMKilled (host memory): raise the memory "
                "limit or lower `context_length`"
            )
    return None


def _last_termination(container: Mapping[str, Any]) -> str:
    term = (container.get("lastState") or {}).get("terminated") or {}
    if not term:
        return ""
    return f"last exit {term.get('exitCode')} ({term.get('reason', 'Error')})"


def _waiting_for_image(status: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> bool:
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ContainerCreating", "PodInitializing"):
            return True
    reasons = [e.get("reason") for e in events]
    return "Pulling" in reasons and "Pulled" not in reasons


def _last_event(events: Iterable[Mapping[str, Any]], reason: str) -> str | None:
    found = [e for e in events if e.get("reason") == reason]
    return str(found[-1].get("message") or reason) if found else None


def _last_matching(lines: Sequence[str], hints: Iterable[str]) -> str | None:
    hints = tuple(hints)
    for line in reversed(lines):
        if any(h in line for h in hints):
            return line
    return None


def root_ready(
    root: Mapping[str, Any], *, runtimes: registry.Registry | None = None
) -> bool | None:
    """Whether the runtime's root object says it serves; None when it does not say.

    Read the way the runtime that declares the root's kind says its operator reports
    (``cluster_side``): Deployments and LeaderWorkerSets count ready replicas; KServe and
    KAITO objects set a Ready-like condition; KubeRay reports ``serviceStatus``; Dynamo a
    ``state``. A kind no runtime declares is read by its Ready/Available conditions.
    """
    return _reading(root, runtimes).ready


_SAYING = ("Ready", "Available", "InferenceReady", "WorkspaceSucceeded")


def root_says(root: Mapping[str, Any]) -> str | None:
    """The root's own words on why it does not serve yet: its first Ready-like condition that
    is not True, as ``Ready=False (Reason): message``; None when it says nothing."""
    conditions = {str(c.get("type")): c for c in (root.get("status") or {}).get("conditions") or []}
    for kind in _SAYING:
        cond = conditions.get(kind)
        if cond is None or cond.get("status") == "True":
            continue
        reason = f" ({cond['reason']})" if cond.get("reason") else ""
        message = f": {cond['message']}" if cond.get("message") else ""
        return f"{kind}={cond.get('status', 'Unknown')}{reason}{message}"
    return None


def _reading(root: Mapping[str, Any], runtimes: registry.Registry | None) -> Reading:
    declared = (runtimes or registry.default()).root_of(root)
    return (declared.read if declared else readiness.GENERIC)(root)
