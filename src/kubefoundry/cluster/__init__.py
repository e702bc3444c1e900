"""The only package that talks to Kubernetes: discovery reads, server-side apply, watch, logs."""
