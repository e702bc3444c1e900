"""Readers of the engines' own sources for ``scripts/refresh_engine_options.py``.

Each module reads one engine's published source (a PyPI sdist or wheel, or a checkout) and
returns the options its command line or config accepts, without importing the engine.
Not on the package's import path: KubeFoundry reads only the JSON files these produce.
"""
