"""A local Kubernetes cluster with simulated GPU node pools, for trying and testing deploys.

``building`` builds the control plane (hack/testcluster) and kwok from Go modules, once;
``pools`` describes the fake GPU nodes with each cloud's labels, from our catalogs;
``processes`` starts and stops the detached processes; ``running`` puts them together
(``up``/``down``/``status`` for the CLI, ``start``/``stop`` for the test suite). Objects in
the cluster (CRDs, nodes) are written through ``cluster/``, the only package with a
Kubernetes client.
"""
