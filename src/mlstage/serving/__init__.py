"""Serving: deployments and their release strategies, the prediction service, request logs.

- ``deployments.py``: the Deployment entity and the DeploymentStore protocol.
- ``sql_deployments.py``: the store over the metadata database.
- ``routing.py``: the pure function that picks a version for a request.
"""
