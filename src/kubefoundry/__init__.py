"""KubeFoundry: serve open LLMs on Kubernetes with every choice explained."""

__version__ = "0.1.0"
