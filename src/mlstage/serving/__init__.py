"""Serving: deployments and their release strategies, the prediction service, request logs.

- ``deployments.py``: the Deployment entity and the DeploymentStore protocol;
  ``sql_deployments.py`` and ``http_deployments.py`` serve it.
- ``routing.py``: the pure function that picks a version for a request.
- ``app.py`` (the FastAPI app), ``service.py`` (endpoints' logic), ``pool.py``
  (loaded versions, hot swap), ``batcher.py`` (micro-batching), ``codecs.py``
  (request bodies, Open Inference Protocol v2), ``validation.py`` (per-row
  checks), ``service_metrics.py`` (Prometheus), ``options.py``.
- ``page.py``: the prediction page for end users.
- ``request_log.py`` / ``request_log_store.py``: predictions logged to Parquet.
- ``batch.py``: batch scoring of files; ``build.py``: Docker and Kubernetes files.
"""
