"""Orchestration: request → plan → runtime → objects → checks → (later) the cluster."""
