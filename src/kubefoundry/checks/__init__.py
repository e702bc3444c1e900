"""Check manifests before they reach a cluster: real schemas plus named pitfall rules.

``reading.read_paths`` reads files; ``checking.check`` returns :class:`findings.Finding` s.
Rules are listed in ``rules.RULES`` and documented in docs/checks.md.
"""
