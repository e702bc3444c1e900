"""``probe-shorter-than-load``: probes that kill the server before the model has loaded.

The budget is what the kubelet allows before restarting the container: the startup probe's
``initialDelaySeconds + periodSeconds × failureThreshold``, or the liveness probe's when
there is no startup probe (readiness never restarts anything). It is compared with the
planner's start-up model for the model's size: weights loaded at 1 GB/s plus 120 s of
engine warm-up, plus the download at 100 MB/s on a cold cache unless the runtime fetches
the weights before the container starts (KServe's storage initializer). Image pulls come
before the container starts, so they do not count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kubefoundry.checks import sizing
from kubefoundry.checks.context import Context
from kubefoundry.checks.documents import Document, join, mapping, number
from kubefoundry.checks.findings import Finding, Severity
from kubefoundry.checks.sites import engine_sites
from kubefoundry.core.units import GB
from kubefoundry.planning import probes

PROBE_SHORTER_THAN_LOAD = "probe-shorter-than-load"
_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "failureThreshold": 3}


def budget(probe: Mapping[str, Any]) -> tuple[int, str]:
    """(seconds before the kubelet gives up, the arithmetic as text)."""
    values = {k: number(probe, k) or d for k, d in _DEFAULTS.items()}  # 0 means the default
    total = values["initialDelaySeconds"] + values["periodSeconds"] * values["failureThreshold"]
    shown = (
        f"initialDelaySeconds {values['initialDelaySeconds']} + periodSeconds "
        f"{values['periodSeconds']} × failureThreshold {values['failureThreshold']}"
    )
    return total, shown


def probe_shorter_than_load(doc: Document, ctx: Context) -> Iterator[Finding]:
    seen: set[str] = set()
    for site in engine_sites(doc, ctx):
        container, model = site.container, site.model
        if container is None or model is None or site.container_path in seen:
            continue
        seen.add(site.container_path)
        kind = "startupProbe" if mapping(container, "startupProbe") else "livenessProbe"
        probe = mapping(container, kind)
        if not probe:
            continue
        allowed, arithmetic = budget(probe)
        times = sizing.start_times(model, fetched_before_start=site.fetches_model)
        if allowed >= times.cold_s:
            continue
        size_gb = sizing.model_bytes(model) / GB
        severity = Severity.ERROR if allowed < times.warm_s else Severity.WARNING
        cold = (
            ""
            if site.fetches_model
            else (
                f" and ≈{times.cold_s}s on a cold cache (download at "
                f"{probes.DOWNLOAD_BYTES_PER_S / 1e6:.0f} MB/s)"
            )
        )
        threshold = times.recommended_threshold(probes.PERIOD_S)
        liveness = kind == "livenessProbe"
        yield doc.finding(
            PROBE_SHORTER_THAN_LOAD,
            severity,
            message=f"The {kind} allows {allowed}s ({arithmetic}) but {model.id} "
            f"({size_gb:.0f} GB of weights) needs ≈{times.warm_s}s to load and warm up with "
            f"the weights cached{cold}: "
            + (
                "the kubelet kills the container before it serves, every time (CrashLoopBackOff)."
                if severity is Severity.ERROR
                else "on a cold cache the kubelet kills the container before it serves, "
                "and each restart starts the download again."
            ),
            fix=(
                "Add a startupProbe (same endpoint as the livenessProbe) with "
                if liveness
                else "Set the startupProbe to "
            )
            + f"periodSeconds: {probes.PERIOD_S} and failureThreshold: {threshold} "
            f"({probes.PERIOD_S * threshold}s ≈ {probes.SAFETY:g} × the cold start); "
            "liveness and readiness only start once it passes, so they can stay strict.",
            path=join(site.container_path, kind),
        )
