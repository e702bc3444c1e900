"""The REST API shell (FastAPI): ``create_app()`` in ``app.py``."""
