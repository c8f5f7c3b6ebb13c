"""The ``mlstage`` command: one module per command group, wired together in ``main``.

Modules here import only Typer, Rich and the standard library at import
time, so ``mlstage --help`` stays fast; the stores, pandas and scikit-learn
are imported inside the commands that use them.
"""
