"""The integration tests' cluster is a KubeFoundry sandbox (``kubefoundry.sandbox``) started
in a temporary folder: the same build, processes, CRDs and fake GPU node pools that
``kubefoundry sandbox up`` gives users. Nothing here starts or stops processes itself."""

from __future__ import annotations

from pathlib import Path

from kubefoundry.sandbox import running

REPO = Path(__file__).resolve().parent.parent.parent

# What the fixtures hand to tests: server, token, ca_file, kubeconfig, workdir, processes, nodes.
ControlPlane = running.Sandbox
