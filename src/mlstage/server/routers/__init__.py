"""REST routers, one module a concern; each router depends on ``require_principal``."""
