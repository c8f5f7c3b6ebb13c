"""Governance: users, passwords, API tokens, roles, sessions and the audit log.

Nothing here is imported by ``import mlstage``; the server and the
``mlstage users|tokens|audit`` commands load it when they need it.
"""
