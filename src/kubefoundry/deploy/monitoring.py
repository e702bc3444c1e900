"""Live model-server metrics per deployment, the one use case behind ``kubefoundry top`` (and
the web UI's metrics, over the same :class:`Monitor`).

Each refresh lists the deployments' pods once, scrapes every running pod's /metrics through
the API server's pod proxy (``cluster/proxying``; several at a time), parses each into the
vocabulary's quantities (``metrics/``), merges a deployment's pods into one snapshot and turns
it into a reading against the previous refresh, kept in a bounded history.

Which port: a pod's container ports named ``metrics`` first (Ray, the endpoint picker), then
``http`` (vLLM, TGI, the Dynamo frontend), ``system`` (Dynamo workers), then the others but
gRPC; the first whose text is a known server's is remembered for that pod. A pod that is not
running, or whose ports serve nothing we know, is a problem of that pod, said beside the
others' figures, never a failure of the refresh.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kubefoundry.cluster import inspecting, prometheus, proxying
from kubefoundry.cluster.connecting import Connection
from kubefoundry.core import identity, timestamps
from kubefoundry.core.errors import KubeFoundryError
from kubefoundry.deploy import deploying, stalls
from kubefoundry.metrics import history, parsing, promql, readings

PREFERRED_PORTS = ("metrics", "http", "system")
WORKERS = 16  # pods scraped at once
SCRAPE_TIMEOUT_S = 5.0  # a model server answers /metrics in milliseconds, even under load

Scrape = Callable[..., str]
Listing = Callable[..., dict[tuple[str, str], list[dict[str, Any]]]]
Summaries = Callable[..., dict[tuple[str, str], identity.PlanSummary]]


@dataclasses.dataclass(frozen=True)
class Observed:
    """One deployment at one refresh."""

    namespace: str
    name: str
    reading: readings.Reading
    pods: int  # pods found
    scraped: int  # pods whose metrics were read
    problems: Mapping[str, str]  # pod -> why its metrics were not read
    plan: identity.PlanSummary | None = None  # what the root says was planned
    gpu_hours: float = 0.0  # provisioned over the history kept (an hour at most)
    busy_gpu_hours: float = 0.0  # of those, with a request running
    window_hours: float = 0.0  # the history's span those were counted over

    @property
    def gpus(self) -> int:
        """GPUs the running pods hold (the reading's)."""
        return self.reading.gpus or 0

    @property
    def busy_gpus(self) -> int:
        """Of those, the GPUs of pods with a request running at the refresh."""
        return self.reading.busy_gpus or 0

    @property
    def idle_gpu_hours(self) -> float:
        return self.gpu_hours - self.busy_gpu_hours

    @property
    def busy_share(self) -> float | None:
        """The share of provisioned GPU time that served requests, over the history kept."""
        return self.busy_gpu_hours / self.gpu_hours if self.gpu_hours > 0 else None

    @property
    def goodput_tokens_per_gpu_hour(self) -> float | None:
        """Output tokens served per GPU-hour provisioned (seed 001's inference goodput)."""
        tps = self.reading.output_tps
        return tps * 3600.0 / self.gpus if tps is not None and self.gpus else None

    @property
    def usd_per_gpu_hour(self) -> float | None:
        """The plan's bill (whole nodes) per planned GPU."""
        planned = _planned_gpus(self.plan)
        if planned is None or self.plan is None or self.plan.usd_per_hour is None:
            return None
        return self.plan.usd_per_hour / planned

    @property
    def spent_usd(self) -> float | None:
        """What the GPU-hours over the kept window cost."""
        price = self.usd_per_gpu_hour
        return None if price is None else price * self.gpu_hours

    @property
    def saved_usd(self) -> float | None:
        """What running fewer GPUs than planned saved over the kept window (scaled in, or
        to zero): the planned GPUs for the window's hours, less the GPU-hours provisioned."""
        planned = _planned_gpus(self.plan)
        return _saved(self.usd_per_gpu_hour, planned, self.window_hours, self.gpu_hours)

    @property
    def usd_per_hour(self) -> float | None:
        """What the running pods cost now: the plan's $/h (whole nodes) shared out over its
        GPUs, times the GPUs running (fewer when scaled in, none at zero)."""
        price = self.usd_per_gpu_hour
        return None if price is None else price * self.gpus

    @property
    def prefill_share(self) -> float:
        """How the bill splits between input and output tokens: the plan's share of a
        replica's time its prompts take (0, the whole bill on output, where the root does
        not say)."""
        share = None if self.plan is None else self.plan.prefill_share
        return share if share is not None and 0.0 <= share <= 1.0 else 0.0

    @property
    def output_usd_per_hour(self) -> float | None:
        """The output tokens' part of the bill now."""
        bill = self.usd_per_hour
        return None if bill is None else bill * (1.0 - self.prefill_share)

    @property
    def usd_per_million_output_tokens(self) -> float | None:
        """The output tokens' part of the bill now over the output tokens served now."""
        return _per_million(self.output_usd_per_hour, self.reading.output_tps)

    @property
    def usd_per_million_input_tokens(self) -> float | None:
        """The prompts' part of the bill now over the prompt tokens served now (None where
        the root does not say how the plan splits the bill)."""
        bill = self.usd_per_hour
        if bill is None or self.plan is None or self.plan.prefill_share is None:
            return None
        return _per_million(bill * self.prefill_share, self.reading.prompt_tps)

    @property
    def planned_usd_per_million_output_tokens(self) -> float | None:
        """The same at the plan's peak, by the speed model (every planned replica busy)."""
        plan = self.plan
        if plan is None or plan.usd_per_hour is None:
            return None
        output_part = plan.usd_per_hour * (1.0 - self.prefill_share)
        return _per_million(output_part, plan.output_tokens_per_s)

    @property
    def planned_usd_per_million_input_tokens(self) -> float | None:
        plan = self.plan
        if plan is None or plan.usd_per_hour is None or plan.prefill_share is None:
            return None
        return _per_million(plan.usd_per_hour * self.prefill_share, plan.input_tokens_per_s)


class Monitor:
    """Refreshes deployments' metrics; keeps an hour of readings each."""

    def __init__(
        self,
        conn: Connection,
        *,
        histories: history.Histories | None = None,
        clock: Callable[[], float] = time.time,
        scrape: Scrape | None = None,
        listing: Listing = inspecting.deployment_pods,
        summaries: Summaries | None = None,
        workers: int = WORKERS,
    ) -> None:
        self.conn, self.clock, self.workers = conn, clock, workers
        self.scrape = scrape or scrape_metrics
        self.listing, self.summaries = listing, summaries or plan_summaries
        self.histories = histories or history.Histories()
        self._ports: dict[str, int] = {}  # pod uid -> the port that served metrics

    def refresh(self, *, namespace: str | None, names: Sequence[str] = ()) -> list[Observed]:
        """Every deployment in ``namespace`` (None: all), or only those ``names``."""
        found = self.listing(self.conn, namespace=namespace)
        wanted = {k: v for k, v in found.items() if not names or k[1] in names}
        plans = self.summaries(self.conn, namespace=namespace) if wanted else {}
        pods = [(key, pod) for key, items in wanted.items() for pod in items]
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(lambda kp: self._pod(kp[1]), pods))
        at = self.clock()
        out = []
        for key, items in sorted(wanted.items()):
            mine = [r for (k, _), r in zip(pods, results, strict=True) if k == key]
            seen = self._observe(key, items, mine, at)
            out.append(dataclasses.replace(seen, plan=plans.get(key)))
        return out

    def _observe(
        self,
        key: tuple[str, str],
        items: list[dict[str, Any]],
        results: list[tuple[str, parsing.Snapshot | None, str | None]],
        at: float,
    ) -> Observed:
        snaps = [s for _, s, _ in results if s is not None]
        merged = parsing.merge(snaps, at=at)
        gpus = {_name(p): stalls.gpus_asked(p)[1] for p in items if running(p)}
        busy = sum(gpus.get(pod, 0) for pod, s, _ in results if s and readings.level(s, "running"))
        track = f"{key[0]}/{key[1]}"
        reading = self.histories.observe(track, merged, gpus=sum(gpus.values()), busy=busy)
        kept = self.histories.gpu_time(track)
        return Observed(
            namespace=key[0],
            name=key[1],
            reading=reading,
            pods=len(items),
            scraped=len(snaps),
            problems={pod: why for pod, _, why in results if why},
            gpu_hours=kept.gpu_hours,
            busy_gpu_hours=kept.busy_gpu_hours,
            window_hours=kept.hours,
        )

    def _pod(self, pod: dict[str, Any]) -> tuple[str, parsing.Snapshot | None, str | None]:
        name, namespace = _name(pod), str(pod["metadata"].get("namespace", ""))
        if not running(pod):
            return name, None, f"not running ({pod.get('status', {}).get('phase', 'Pending')})"
        uid = str(pod["metadata"].get("uid", name))
        known = self._ports.get(uid)
        tried: list[str] = []
        for port in [known] if known is not None else candidates(pod):
            try:
                text = self.scrape(self.conn, namespace=namespace, pod=name, port=port)
                snap = parsing.parse(text, at=self.clock(), origin=name)
            except KubeFoundryError as err:
                tried.append(f"port {port}: {err.message.splitlines()[0]}")
                continue
            if snap.servers:
                self._ports[uid] = port
                return name, snap, None
            tried.append(f"port {port}: no model-server metrics")
        if known is not None:
            del self._ports[uid]  # look again next time
        return name, None, "; ".join(tried) or "no TCP container port"


@dataclasses.dataclass(frozen=True)
class Totals:
    """Every deployment of a refresh together: the cluster's (or namespace's) goodput and
    bill."""

    deployments: int
    gpus: int
    busy_gpus: int
    output_tps: float
    usd_per_hour: float | None  # None: no deployment's price is known
    unpriced: int  # deployments whose price is not known (left out of the bill)
    priced_output_tps: float = 0.0  # the output of those whose price is known
    output_usd_per_hour: float | None = None  # their bills' output part (the plans' split)
    gpu_hours: float = 0.0  # provisioned, over the histories kept
    busy_gpu_hours: float = 0.0
    spent_usd: float | None = None  # those GPU-hours' cost (priced deployments)
    saved_usd: float | None = None  # by running fewer GPUs than planned

    @property
    def goodput_tokens_per_gpu_hour(self) -> float | None:
        return self.output_tps * 3600.0 / self.gpus if self.gpus else None

    @property
    def busy_share(self) -> float | None:
        """The share of provisioned GPU time that served requests, over the histories kept
        (each interval judged by whether the pod had a request running at its refresh)."""
        return self.busy_gpu_hours / self.gpu_hours if self.gpu_hours > 0 else None

    @property
    def usd_per_million_output_tokens(self) -> float | None:
        """The priced deployments' bills' output part over their own output (not the
        unpriced ones')."""
        return _per_million(self.output_usd_per_hour, self.priced_output_tps)


def totals(seen: Sequence[Observed]) -> Totals:
    priced = [o.usd_per_hour for o in seen if o.usd_per_hour is not None]
    return Totals(
        deployments=len(seen),
        gpus=sum(o.gpus for o in seen),
        busy_gpus=sum(o.busy_gpus for o in seen),
        output_tps=sum(o.reading.output_tps or 0.0 for o in seen),
        usd_per_hour=sum(priced) if priced else None,
        unpriced=len(seen) - len(priced),
        priced_output_tps=sum(
            o.reading.output_tps or 0.0 for o in seen if o.usd_per_hour is not None
        ),
        output_usd_per_hour=_total(o.output_usd_per_hour for o in seen),
        gpu_hours=sum(o.gpu_hours for o in seen),
        busy_gpu_hours=sum(o.busy_gpu_hours for o in seen),
        spent_usd=_total(o.spent_usd for o in seen),
        saved_usd=_total(o.saved_usd for o in seen),
    )


def _total(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def to_dict(o: Observed) -> dict[str, Any]:
    """One deployment's figures as data (``top -o json``, the API): rates per second,
    latencies in seconds, money in US dollars."""
    return {
        "namespace": o.namespace,
        "name": o.name,
        "pods": o.pods,
        "scraped": o.scraped,
        "gpus": o.gpus,
        "busy_gpus": o.busy_gpus,
        "goodput_tokens_per_gpu_hour": o.goodput_tokens_per_gpu_hour,
        "gpu_hours": o.gpu_hours,
        "idle_gpu_hours": o.idle_gpu_hours,
        "busy_share": o.busy_share,
        "window_hours": o.window_hours,
        "spent_usd": o.spent_usd,
        "saved_usd": o.saved_usd,
        "usd_per_hour": o.usd_per_hour,
        "usd_per_million_output_tokens": o.usd_per_million_output_tokens,
        "planned_usd_per_million_output_tokens": o.planned_usd_per_million_output_tokens,
        "usd_per_million_input_tokens": o.usd_per_million_input_tokens,
        "planned_usd_per_million_input_tokens": o.planned_usd_per_million_input_tokens,
        "prefill_share": None if o.plan is None else o.plan.prefill_share,
        "planned_output_tokens_per_s": None if o.plan is None else o.plan.output_tokens_per_s,
        "reading": reading_dict(o.reading),
        "problems": dict(o.problems),
    }


def reading_dict(r: readings.Reading) -> dict[str, Any]:
    """A reading as data, its servers a sorted list."""
    data = dataclasses.asdict(r)
    data["servers"] = sorted(r.servers)
    return data


# What ``exposition`` exports per deployment: name, help, the figure.
EXPORTED: tuple[tuple[str, str, Callable[[Observed], float | None]], ...] = (
    (
        "kubefoundry_deployment_cost_usd_per_hour",
        "What the running pods cost now: the plan's bill per GPU times the GPUs running.",
        lambda o: o.usd_per_hour,
    ),
    (
        "kubefoundry_deployment_planned_cost_usd_per_hour",
        "The plan's bill: every node its replicas occupy.",
        lambda o: None if o.plan is None else o.plan.usd_per_hour,
    ),
    ("kubefoundry_deployment_gpus", "GPUs the running pods hold.", lambda o: float(o.gpus)),
    (
        "kubefoundry_deployment_busy_gpus",
        "Of those, the GPUs of pods with a request running.",
        lambda o: float(o.busy_gpus),
    ),
    (
        "kubefoundry_deployment_output_tokens_per_second",
        "Output tokens served per second, over the last refresh's interval.",
        lambda o: o.reading.output_tps,
    ),
    (
        "kubefoundry_deployment_cost_usd_per_million_output_tokens",
        "The output tokens' part of the bill now (the plan's split) over those served now.",
        lambda o: o.usd_per_million_output_tokens,
    ),
    (
        "kubefoundry_deployment_planned_cost_usd_per_million_output_tokens",
        "The same by the plan, over the speed model's output tokens at its peak.",
        lambda o: o.planned_usd_per_million_output_tokens,
    ),
    (
        "kubefoundry_deployment_input_tokens_per_second",
        "Prompt tokens served per second, over the last refresh's interval.",
        lambda o: o.reading.prompt_tps,
    ),
    (
        "kubefoundry_deployment_cost_usd_per_million_input_tokens",
        "The prompts' part of the bill now over the prompt tokens served now.",
        lambda o: o.usd_per_million_input_tokens,
    ),
    (
        "kubefoundry_deployment_planned_cost_usd_per_million_input_tokens",
        "The same by the plan, over the speed model's prompt tokens at its peak.",
        lambda o: o.planned_usd_per_million_input_tokens,
    ),
)


def exposition(seen: Sequence[Observed]) -> bytes:
    """The deployments' cost figures in Prometheus' text format, one gauge family per figure
    (``EXPORTED``), labelled ``namespace``, ``deployment``, ``model``, ``tier`` and ``gpu``
    (per replica, "2xH100"); a figure not known now (no price, no interval yet) is left out,
    never 0. OpenCost names no per-deployment or per-token figure (its ``node_gpu_hourly_cost``
    and ``container_gpu_allocation`` are per node and container), so the names are ours;
    ``namespace`` joins them to OpenCost's."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    labels = ["namespace", "deployment", "model", "tier", "gpu"]

    def values(o: Observed) -> list[str]:
        plan = o.plan or identity.PlanSummary()
        return [o.namespace, o.name, plan.model or "", plan.tier or "", plan.gpu or ""]

    class _Figures(Collector):
        def collect(self) -> Iterable[GaugeMetricFamily]:
            for name, text, figure in EXPORTED:
                family = GaugeMetricFamily(name, text, labels=labels)
                for o in seen:
                    value = figure(o)
                    if value is not None:
                        family.add_metric(values(o), value)
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Figures())
    return generate_latest(registry)


HISTORY_STEP_S = 15.0  # a Prometheus range query's step: 240 points to the hour


@dataclasses.dataclass(frozen=True)
class PastFromPrometheus:
    url: str
    how: str  # "directly" or "through the API server's service proxy"
    points: list[dict[str, Any]]  # reading_dict's shape, oldest first


@dataclasses.dataclass(frozen=True)
class SinceStart:
    """A deployment's bill since it was made, from the model-server pods Prometheus saw (each
    a replica's serving pod), priced per replica by the plan. Prometheus' retention bounds
    it: ``hours`` is what was asked, ``replica_hours`` what it held."""

    hours: float
    replica_hours: float
    planned_replicas: int | None
    usd_per_replica_hour: float | None

    @property
    def spent_usd(self) -> float | None:
        price = self.usd_per_replica_hour
        return None if price is None else price * self.replica_hours

    @property
    def saved_usd(self) -> float | None:
        """The plan's replicas all that time, less the replica-hours that ran (scaled in,
        or to zero); never below 0 (a scale-out above the plan saves nothing)."""
        price, planned = self.usd_per_replica_hour, self.planned_replicas
        return _saved(price, planned, self.hours, self.replica_hours)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": self.hours,
            "replica_hours": self.replica_hours,
            "spent_usd": self.spent_usd,
            "saved_usd": self.saved_usd,
        }


SINCE_POINTS = 2000  # samples in the since-start subquery, at most (15 s resolution or more)


def since_start(
    conn: Connection,
    url: str,
    *,
    namespace: str,
    name: str,
    seconds: float,
    plan: identity.PlanSummary | None,
    now: float | None = None,
) -> SinceStart:
    """Replica-hours over the deployment's ``seconds`` of life and what they cost."""
    end = time.time() if now is None else now
    resolution = max(HISTORY_STEP_S, seconds / SINCE_POINTS)
    pods = promql.pods(promql.selector(namespace=namespace, name=name))
    query = promql.replica_seconds(pods, seconds=seconds, resolution_s=resolution)
    where = prometheus.Where.of(url)
    values = _series(conn, where, "since-start", query, start=end, end=end, step_s=resolution)
    replicas = plan.replicas if plan is not None and plan.replicas else None
    price = (
        plan.usd_per_hour / replicas
        if plan is not None and plan.usd_per_hour is not None and replicas
        else None
    )
    return SinceStart(
        hours=seconds / 3600.0,
        replica_hours=(values[-1][1] / 3600.0) if values else 0.0,
        planned_replicas=replicas,
        usd_per_replica_hour=price,
    )


def prometheus_history(
    conn: Connection,
    url: str,
    *,
    namespace: str,
    name: str,
    seconds: float = history.WINDOW_S,
    step_s: float = HISTORY_STEP_S,
    now: float | None = None,
) -> PastFromPrometheus:
    """A deployment's readings over the last ``seconds``, from the Prometheus at ``url``
    (``metrics/promql``: one range query per figure). Raises when Prometheus cannot be asked
    or refuses a query, naming it."""
    where = prometheus.Where.of(url)
    end = time.time() if now is None else now
    start = end - seconds
    asked = promql.queries(promql.selector(namespace=namespace, name=name))

    def ask(field: str) -> tuple[str, list[tuple[float, float]]]:
        query = asked[field]
        return field, _series(conn, where, field, query, start=start, end=end, step_s=step_s)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        answers = dict(pool.map(ask, asked))
    return PastFromPrometheus(url, where.how, promql.points(answers, step_s=step_s))


def _series(
    conn: Connection,
    where: prometheus.Where,
    what: str,
    query: str,
    *,
    start: float,
    end: float,
    step_s: float,
) -> list[tuple[float, float]]:
    """The one series a range query answers; Prometheus' refusal named by ``what`` was asked."""
    answer = prometheus.query_range(conn, where, query, start=start, end=end, step_s=step_s)
    try:
        return promql.matrix(answer)
    except ValueError as exc:
        raise KubeFoundryError(
            f"Prometheus at {where.url} refused the {what} query: {exc}"
        ) from None


def scalers_history(
    conn: Connection, *, namespace: str, name: str
) -> tuple[PastFromPrometheus | None, str | None]:
    """The deployment's history from the Prometheus its ScaledObject queries, or None with
    why not (None, None where it has no such Prometheus)."""
    url = inspecting.scaler_prometheus(conn, name=name, namespace=namespace)
    if url is None:
        return None, None
    try:
        return prometheus_history(conn, url, namespace=namespace, name=name), None
    except KubeFoundryError as err:
        return None, err.message


def age_s(root: Mapping[str, Any], *, now: float | None = None) -> float | None:
    """Seconds since the root object was made (its ``creationTimestamp``); None when it has
    none that reads."""
    made = timestamps.parse((root.get("metadata") or {}).get("creationTimestamp"))
    if made is None:
        return None
    return max(0.0, (time.time() if now is None else now) - made.timestamp())


def scrape_metrics(conn: Connection, *, namespace: str, pod: str, port: int) -> str:
    """A pod's /metrics on ``port``, through the API server's pod proxy."""
    return proxying.get(
        conn, namespace=namespace, pod=pod, port=port, path="metrics", timeout_s=SCRAPE_TIMEOUT_S
    )


def plan_summaries(
    conn: Connection, *, namespace: str | None
) -> dict[tuple[str, str], identity.PlanSummary]:
    """Each deployment's plan summary, from its root (kinds RBAC hides are left out)."""
    roots = inspecting.roots(conn, deploying.ROOT_KINDS, namespace=namespace, unreadable=[])
    out = {}
    for root in roots:
        summary = identity.summary_of(root)
        if summary is not None:
            key = (str(root["metadata"].get("namespace", "")), identity.deployment_of(root))
            out[key] = summary
    return out


def _saved(price: float | None, planned: int | None, hours: float, ran: float) -> float | None:
    """What running less than planned saved: ``planned`` units (GPUs, replicas) for
    ``hours``, less the unit-hours that ``ran``, at ``price`` per unit-hour; never below 0
    (running more than planned saves nothing)."""
    if price is None or planned is None:
        return None
    return price * max(0.0, planned * hours - ran)


def _planned_gpus(plan: identity.PlanSummary | None) -> int | None:
    """GPUs the plan runs: replicas x the GPUs of one (its summary's "2xL4")."""
    if plan is None or not plan.replicas or not plan.gpu or "x" not in plan.gpu:
        return None
    count = plan.gpu.split("x", 1)[0]
    return plan.replicas * int(count) if count.isdigit() and int(count) > 0 else None


def _per_million(usd_per_hour: float | None, tokens_per_s: float | None) -> float | None:
    if usd_per_hour is None or not tokens_per_s:
        return None
    return usd_per_hour / (tokens_per_s * 3600.0) * 1e6


def candidates(pod: Mapping[str, Any], *, without: Sequence[str] = ()) -> list[int]:
    """The pod's container ports worth asking for /metrics, likeliest first (but those
    named in ``without``)."""
    ports = [
        p
        for c in pod.get("spec", {}).get("containers", [])
        for p in c.get("ports") or []
        if p.get("protocol", "TCP") == "TCP"
        and "grpc" not in str(p.get("name", ""))
        and p.get("name") not in without
    ]

    def rank(port: Mapping[str, Any]) -> int:
        name = str(port.get("name", ""))
        return PREFERRED_PORTS.index(name) if name in PREFERRED_PORTS else len(PREFERRED_PORTS)

    return [int(p["containerPort"]) for p in sorted(ports, key=rank)]


def _name(pod: Mapping[str, Any]) -> str:
    return str(pod["metadata"]["name"])


def running(pod: Mapping[str, Any]) -> bool:
    """Running with an address: a pod the API server can proxy to."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and bool(status.get("podIP"))
