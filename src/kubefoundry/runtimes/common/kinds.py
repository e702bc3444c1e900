"""Kubernetes' own kinds the renderers write (custom kinds live with their runtime or
builder), and the root declaration the Deployment-based runtimes share."""

from __future__ import annotations

from kubefoundry.runtimes.cluster_side import Kind, Root
from kubefoundry.runtimes.common import readiness

DEPLOYMENT = Kind("apps", "v1", "Deployment", "deployments")
SERVICE = Kind("", "v1", "Service", "services")
CONFIG_MAP = Kind("", "v1", "ConfigMap", "configmaps")
SERVICE_ACCOUNT = Kind("", "v1", "ServiceAccount", "serviceaccounts")
PERSISTENT_VOLUME_CLAIM = Kind("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
POD_DISRUPTION_BUDGET = Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets")
ROLE = Kind("rbac.authorization.k8s.io", "v1", "Role", "roles")
ROLE_BINDING = Kind("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings")
INGRESS = Kind("networking.k8s.io", "v1", "Ingress", "ingresses")

# A Deployment serves once all its replicas are available.
DEPLOYMENT_ROOT = Root(DEPLOYMENT, readiness.Replicas("availableReplicas"))
