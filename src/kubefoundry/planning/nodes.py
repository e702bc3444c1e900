"""What the cluster really pays: GPUs come in machines, so a plan buys whole nodes.

A one-GPU replica on a cloud that sells that GPU only in eight-GPU machines pays for the
whole machine; two such replicas share it and leave six GPUs idle. ``whole_nodes`` picks,
among a GPU type's instance types, the one whose whole nodes hold the replicas for the least
money (fewer idle GPUs break ties), and says how many nodes, how many GPUs sit idle and what
that costs. Replicas share a node when it has room (one replica per ``gpus_per_replica``
slice); a replica larger than the biggest machine spans whole machines of that size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Machine:
    """One purchasable node shape: an instance type, or a node pool's nodes."""

    name: str | None  # instance type; None for on-prem GPUs priced one by one
    gpus: int
    usd_per_hour: float | None  # the whole node
    source: str


@dataclasses.dataclass(frozen=True)
class Nodes:
    """The nodes a plan needs for all its replicas, and what they cost."""

    machine: Machine
    nodes: int  # for all replicas
    nodes_per_replica: int
    replicas_per_node: int  # 0 when a replica spans several nodes
    gpus_used: int
    idle_gpus: int  # paid for, not used
    usd_per_hour: float | None  # all nodes

    @property
    def instance_type(self) -> str | None:
        return self.machine.name

    def describe(self) -> str:
        shape = self.machine.name or f"{self.machine.gpus}-GPU node"
        gpus = self.machine.gpus
        text = f"{self.nodes} × {shape} ({gpus} GPU{'s' if gpus > 1 else ''} each)"
        if self.idle_gpus:
            text += f", {self.idle_gpus} GPU{'s' if self.idle_gpus > 1 else ''} idle"
        return text


def layout(machine: Machine, *, gpus_per_replica: int, replicas: int) -> Nodes:
    """Whole ``machine`` nodes for ``replicas`` replicas of ``gpus_per_replica`` GPUs."""
    if gpus_per_replica <= machine.gpus:
        per_node = machine.gpus // gpus_per_replica
        nodes = math.ceil(replicas / per_node)
        per_replica = 1
    else:
        per_node = 0
        per_replica = math.ceil(gpus_per_replica / machine.gpus)
        nodes = per_replica * replicas
    used = gpus_per_replica * replicas
    price = None if machine.usd_per_hour is None else round(nodes * machine.usd_per_hour, 4)
    return Nodes(
        machine=machine,
        nodes=nodes,
        nodes_per_replica=per_replica,
        replicas_per_node=per_node,
        gpus_used=used,
        idle_gpus=nodes * machine.gpus - used,
        usd_per_hour=price,
    )


def whole_nodes(
    machines: Sequence[Machine], *, gpus_per_replica: int, replicas: int
) -> Nodes | None:
    """The cheapest whole-node layout among ``machines`` (fewest idle GPUs, then fewest
    nodes on a tie); priced machines before unpriced ones. None when there are none."""
    if not machines:
        return None
    fitting = [m for m in machines if m.gpus >= gpus_per_replica]
    if not fitting:  # spans nodes: only the largest machines make sense
        largest = max(m.gpus for m in machines)
        fitting = [m for m in machines if m.gpus == largest]
    layouts = [layout(m, gpus_per_replica=gpus_per_replica, replicas=replicas) for m in fitting]
    return min(
        layouts,
        key=lambda n: (
            n.usd_per_hour is None,
            n.usd_per_hour or 0.0,
            n.idle_gpus,
            n.nodes,
        ),
    )


def per_gpu(
    usd_per_gpu_hour: float | None,
    *,
    gpus_per_node: int,
    gpus_per_replica: int,
    replicas: int,
    source: str,
) -> Nodes:
    """On-prem GPUs priced one by one: what the replicas use is what they cost."""
    machine = Machine(name=None, gpus=gpus_per_node, usd_per_hour=None, source=source)
    nodes = layout(machine, gpus_per_replica=gpus_per_replica, replicas=replicas)
    price = None
    if usd_per_gpu_hour is not None:
        price = round(usd_per_gpu_hour * gpus_per_replica * replicas, 4)
    return dataclasses.replace(nodes, idle_gpus=0, usd_per_hour=price)
