"""KubeFoundry installed in a cluster: the Helm chart ``kubefoundry chart`` writes.

The chart runs ``kubefoundry serve --host 0.0.0.0 --auth kubernetes``: users sign in with
their own Kubernetes token and the server acts for them by impersonation, so everything a
user changes is authorized by *their* RBAC. The server's own ClusterRole is therefore small
and read-mostly, and each rule is derived from what the product does, with its reason beside
it (the chart's comments and ``docs/security.md`` print the same reasons):

- checking tokens (``create tokenreviews``) and acting for users (``impersonate``);
- reading, for every user alike, what the watch cache and discovery read: the deployment
  root kinds the runtimes declare (``registry.root_kinds()``), pods, events, nodes, CRDs,
  storage and gateway classes; ``list namespaces`` to find where a user may list;
- one ``get`` on its settings ConfigMap in its own namespace (a Role, not cluster-wide).

It writes nothing on its own: deploys, scales, deletes, token Secrets and settings are
written as the signed-in user. A second ClusterRole, ``<release>-deployer``, holds what a
*user* needs to deploy with KubeFoundry (every kind the runtimes render), for admins to bind
per namespace with a RoleBinding.

The templates are written with the export's writer (``runtimes/export``): objects built as
dicts, dumped as YAML, ``{{`` escaped, and template expressions put in marked holes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kubefoundry import __version__
from kubefoundry.deploy import settings
from kubefoundry.runtimes import registry
from kubefoundry.runtimes.export import helm, save, yamlfiles

NAME = "kubefoundry"
IMAGE = "ghcr.io/kubefoundry/kubefoundry"  # not published: build it from the Containerfile
PORT = 8080
_HOLE = "__kubefoundry_chart_hole_{}__"  # plain YAML scalars no real value has


@dataclasses.dataclass(frozen=True)
class Rule:
    """One RBAC rule and why the product needs it."""

    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str
    names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"apiGroups": list(self.groups), "resources": list(self.resources)}
        if self.names:
            out["resourceNames"] = list(self.names)
        return out | {"verbs": list(self.verbs)}


READ = ("list", "watch")
WRITE = ("get", "list", "watch", "create", "patch", "update", "delete")


def server_rules() -> list[Rule]:
    """The server's ClusterRole, least privilege (see the module)."""
    roots = _by_group((k.group, k.plural) for k in registry.default().root_kinds())
    return [
        Rule(
            ("authentication.k8s.io",), ("tokenreviews",), ("create",),
            "Ask the API server whose token a user signed in with (--auth kubernetes).",
        ),
        Rule(
            ("",), ("users", "groups", "serviceaccounts"), ("impersonate",),
            "Act for the signed-in user, so their own RBAC authorizes what they do.",
        ),
        Rule(
            ("authentication.k8s.io",), ("uids",), ("impersonate",),
            "Send the user's uid with their name (Impersonate-Uid), as the review gave it.",
        ),
        *(
            Rule(
                (group,), plurals, READ,
                "The watch cache follows the deployments' root objects (the kinds the "
                "runtimes declare); each user sees only the namespaces they may list.",
            )
            for group, plurals in roots.items()
        ),
        Rule(
            ("",), ("pods", "events"), READ,
            "Deployment status and progress from the watch cache; GPUs in use per pool.",
        ),
        Rule(("",), ("nodes",), READ, "GPU pools: the nodes' GPU labels and capacity."),
        Rule(
            ("coordination.k8s.io",), ("leases",), ("list",),
            "Whether each installed operator's controller runs: its leader-election Lease.",
        ),
        Rule(
            ("discovery.k8s.io",), ("endpointslices",), ("list",),
            "Whether each installed operator's controller runs: its webhook's endpoints.",
        ),
        Rule(
            ("storage.k8s.io",), ("storageclasses",), ("list",),
            "Where the model cache can be stored.",
        ),
        Rule(
            ("gateway.networking.k8s.io",), ("gatewayclasses",), ("list",),
            "Which exposure (Gateway API) the cluster can serve, and whose controller acts.",
        ),
        Rule(
            ("",), ("namespaces",), ("list",),
            "Find the namespaces a user may list deployments in when they may not list all.",
        ),
    ]  # fmt: skip


def settings_rule() -> Rule:
    """The one namespaced read: the shared settings (GPU prices) in the server's namespace."""
    return Rule(
        ("",),
        ("configmaps",),
        ("get",),
        "Read the shared settings (on-prem GPU prices); users write them as themselves.",
        names=(settings.CONFIGMAP,),
    )


def deployer_rules() -> list[Rule]:
    """What a user needs, in a namespace, to deploy, watch, scale and delete with KubeFoundry:
    every kind any runtime renders, the token Secret, pods with their logs, and events."""
    rendered = _by_group((k.group, k.plural) for k in registry.default().kinds())
    rendered[""] = tuple(sorted({*rendered.get("", ()), "secrets"}))
    return [
        *(
            Rule((g,), plurals, WRITE, "Apply, update and delete what the runtimes render.")
            for g, plurals in rendered.items()
        ),
        Rule(("",), ("pods", "pods/log", "events"), ("get", "list", "watch"), "Status, logs."),
    ]


def _by_group(kinds: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for group, plural in kinds:
        grouped[group].add(plural)
    return {g: tuple(sorted(p)) for g, p in sorted(grouped.items())}


# ---------------------------------------------------------------- the chart


def values() -> dict[str, Any]:
    return {
        "image": {"repository": IMAGE, "tag": __version__, "pullPolicy": "IfNotPresent"},
        "replicas": 1,
        "service": {"type": "ClusterIP", "port": PORT},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "deployerRole": {"create": True},
        "networkPolicy": {"enabled": False, "ingressFrom": []},
    }


def files() -> dict[str, str]:
    """The chart: relative path → text."""
    templates = {
        "serviceaccount.yaml": _template(_service_account()),
        "clusterrole.yaml": _cluster_role("", server_rules()),
        "clusterrolebinding.yaml": _template(_binding("ClusterRoleBinding", "ClusterRole")),
        "role.yaml": _role(),
        "rolebinding.yaml": _template(_binding("RoleBinding", "Role")),
        "deployment.yaml": _template(_deployment()),
        "service.yaml": _template(_service()),
        "deployer-clusterrole.yaml": _guarded(
            ".Values.deployerRole.create", _cluster_role("-deployer", deployer_rules())
        ),
        "networkpolicy.yaml": _guarded(".Values.networkPolicy.enabled", _network_policy()),
    }
    return {
        "Chart.yaml": yamlfiles.dump(_chart()),
        "values.yaml": yamlfiles.HEADER + yamlfiles.dump(values()),
        "values.schema.json": json.dumps(_schema(), indent=2) + "\n",
        "README.md": _readme(),
        **{f"templates/{name}": text for name, text in templates.items()},
        "templates/NOTES.txt": _notes(),
    }


def write(directory: Path, *, overwrite: bool = False) -> list[Path]:
    """Write the chart into ``directory`` (new, empty, or an earlier chart of ours)."""
    return save(files(), directory=directory, fmt="helm", name=NAME, overwrite=overwrite)


def _chart() -> dict[str, Any]:
    return {
        "apiVersion": "v2",
        "name": NAME,
        "description": "KubeFoundry: plan, deploy and watch open LLMs; each user acts with "
        "their own Kubernetes RBAC.",
        "type": "application",
        "version": __version__,
        "appVersion": __version__,
    }


def _meta(suffix: str = "", *, namespaced: bool = True) -> dict[str, Any]:
    name = f'printf "%s{suffix}" .Release.Name' if suffix else ".Release.Name"
    meta: dict[str, Any] = {"name": _hole(name)}
    if namespaced:
        meta["namespace"] = _hole(".Release.Namespace | quote")
    meta["labels"] = _selector()
    return meta


def _release() -> str:
    return _hole(".Release.Name | quote")


def _selector() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/instance": _release()}


def _service_account() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta()}


def _cluster_role(suffix: str, rules: Sequence[Rule]) -> str:
    return _with_rules(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(suffix, namespaced=False),
        },
        rules,
    )


def _role() -> str:
    return _with_rules(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta()},
        [settings_rule()],
    )


def _with_rules(head: dict[str, Any], rules: Sequence[Rule]) -> str:
    """A role's template, each rule under a comment saying why the product needs it."""
    text = _template(head) + "rules:\n"
    for rule in rules:
        text += f"# {rule.why}\n" + helm.escape(yamlfiles.dump([rule.to_dict()]))
    return text


def _binding(kind: str, role: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta(namespaced=kind == "RoleBinding"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role,
            "name": _hole(".Release.Name"),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": _hole(".Release.Name"),
                "namespace": _hole(".Release.Namespace"),
            }
        ],
    }


def _deployment() -> dict[str, Any]:
    selector = _selector()
    container = {
        "name": "kubefoundry",
        "image": _hole('printf "%s:%s" .Values.image.repository .Values.image.tag | quote'),
        "imagePullPolicy": _hole(".Values.image.pullPolicy | quote"),
        "args": ["serve", "--host", "0.0.0.0", "--port", str(PORT), "--auth", "kubernetes"],
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 30},
        "resources": _hole("toJson .Values.resources"),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(),
        "spec": {
            # Sessions live in the server's memory: more replicas need sticky sessions.
            "replicas": _hole(".Values.replicas"),
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": dict(selector)},
                "spec": {
                    "serviceAccountName": _hole(".Release.Name"),
                    "automountServiceAccountToken": True,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def _service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(),
        "spec": {
            "type": _hole(".Values.service.type | quote"),
            "selector": _selector(),
            "ports": [
                {"name": "http", "port": _hole(".Values.service.port"), "targetPort": "http"}
            ],
        },
    }


def _network_policy() -> str:
    """Ingress to the server's port only, from where ``networkPolicy.ingressFrom`` says (an
    empty list: from anywhere); egress stays open (the server must reach the API server)."""
    return _template(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(),
            "spec": {
                "podSelector": {"matchLabels": _selector()},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": _hole("toJson .Values.networkPolicy.ingressFrom"),
                        "ports": [{"port": PORT, "protocol": "TCP"}],
                    }
                ],
            },
        }
    )


def _hole(expression: str) -> str:
    """A plain YAML scalar standing for a template expression (its text, hex-encoded)."""
    return _HOLE.format(expression.encode().hex())


def _template(obj: dict[str, Any]) -> str:
    """The object as template text: escaped YAML with each hole back as its expression."""
    text = helm.escape(yamlfiles.HEADER + yamlfiles.dump(obj))
    return re.sub(
        _HOLE.format("([0-9a-f]+)"),
        lambda m: "{{ " + bytes.fromhex(m.group(1)).decode() + " }}",
        text,
    )


def _guarded(condition: str, text: str) -> str:
    return f"{{{{- if {condition} }}}}\n{text}{{{{- end }}}}\n"


def _schema() -> dict[str, Any]:
    def obj(properties: dict[str, Any], *, required: Sequence[str] | None = None) -> dict[str, Any]:
        return {
            "type": "object",
            "additionalProperties": False,
            "required": list(properties if required is None else required),
            "properties": properties,
        }

    text = {"type": "string", "minLength": 1}
    quantities = {"type": "object", "additionalProperties": {"type": ["string", "number"]}}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        **obj(
            {
                "image": obj(
                    {
                        "repository": text,
                        "tag": text,
                        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                    }
                ),
                "replicas": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "Sessions live in memory: one replica (or sticky sessions).",
                },
                "service": obj(
                    {
                        "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    }
                ),
                "resources": obj({"requests": quantities, "limits": quantities}, required=[]),
                "deployerRole": obj({"create": {"type": "boolean"}}),
                "networkPolicy": obj(
                    {
                        "enabled": {"type": "boolean"},
                        "ingressFrom": {"type": "array", "items": {"type": "object"}},
                    }
                ),
            }
        ),
    }


def _notes() -> str:
    return (
        "KubeFoundry {{ .Chart.AppVersion }} runs as {{ .Release.Name }} in "
        "{{ .Release.Namespace }}.\n\n"
        "Open it:  kubectl -n {{ .Release.Namespace }} port-forward svc/{{ .Release.Name }} "
        f"{PORT}:{{{{ .Values.service.port }}}}\n"
        f"then http://127.0.0.1:{PORT}/login, and sign in with your own Kubernetes token\n"
        "(e.g. `kubectl create token NAME -n NAMESPACE` for a service account).\n\n"
        "Let a user deploy in one namespace:\n"
        "  kubectl create rolebinding NAME-kubefoundry -n NAMESPACE \\\n"
        "    --clusterrole={{ .Release.Name }}-deployer --user=NAME\n\n"
        "The image {{ .Values.image.repository }}:{{ .Values.image.tag }} is not published: "
        "build it\nfrom the Containerfile at the root of the KubeFoundry repository and set "
        "image.repository.\n"
    )


def _readme() -> str:
    lines = [
        f"# {NAME} (chart written by `kubefoundry chart`)",
        "",
        "Runs `kubefoundry serve --host 0.0.0.0 --auth kubernetes`: users sign in with their",
        "own Kubernetes token and the server acts for them by impersonation.",
        "",
        "**Image**: no image is published. Build one from the repository's `Containerfile`",
        f"(`podman build -t REGISTRY/kubefoundry:{__version__} .`), push it, and install with",
        "`--set image.repository=REGISTRY/kubefoundry`.",
        "",
        "## The server's ClusterRole, rule by rule",
        "",
        "| API group | resources | verbs | why |",
        "|---|---|---|---|",
    ]
    for r in [*server_rules(), settings_rule()]:
        group = ", ".join(g or "core" for g in r.groups)
        names = f" ({', '.join(r.names)} only, in the release namespace)" if r.names else ""
        lines.append(
            f"| {group} | {', '.join(r.resources)}{names} | {', '.join(r.verbs)} | {r.why} |"
        )
    lines += [
        "",
        "It writes nothing itself: deploying, scaling, deleting, token Secrets and settings",
        "are done as the signed-in user. `<release>-deployer` (value `deployerRole.create`)",
        "is what a user needs to deploy; bind it per namespace with a RoleBinding.",
        "",
    ]
    return "\n".join(lines)
