"""The web pages: server-rendered HTML over the same functions the CLI and the REST API call.

``pages.install(app)`` adds them to the API's FastAPI application: the catalog at ``/``, a
model's Good / Better / Best plans at ``/models/{name}`` and the YAML a deploy would apply at
``/models/{name}/render``. No JavaScript build, no CDN: Jinja2 templates and one stylesheet,
both package data. The pages name Secrets; they never show a secret's value.
"""
