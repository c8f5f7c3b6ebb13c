"""A team server over a real socket: clients with ``tracking_token`` work, others are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstage import config
from mlstage.errors import Forbidden, Unauthorized
from mlstage.governance.sql_store import GovernanceStore
from mlstage.server.testing import start_server
from mlstage.store.database import Database
from mlstage.tracking.http_store import HttpTrackingStore
from tests.server.auth_support import DAY, secure_settings


def test_the_http_client_sends_its_token_and_the_actor_is_recorded(
    tmp_path: Path, sqlite_url: str
) -> None:
    db = Database(sqlite_url)
    gov = GovernanceStore(db)
    gov.create_user("ci", "contributor", None)
    gov.create_user("reader", "viewer", None)
    write = gov.create_token("ci", "write", DAY).secret
    read = gov.create_token("reader", "read", DAY).secret
    base_url, stop = start_server(secure_settings(tmp_path, sqlite_url))
    try:
        client_settings = config.load_settings(start=tmp_path, tracking_uri=base_url)

        def store(token: str) -> HttpTrackingStore:
            settings = client_settings.with_overrides(tracking_token=token)
            return HttpTrackingStore(base_url, settings, retry_delays=())

        ci = store(write)
        experiment = ci.create_experiment("team")
        run = ci.create_run(experiment.experiment_id, "first")
        assert ci.get_run(run.run_id).name == "first"
        with pytest.raises(Unauthorized, match="Bearer"):
            store("").list_experiments()
        with pytest.raises(Forbidden, match="contributor"):
            store(read).create_experiment("not-allowed")
        assert [e.name for e in store(read).list_experiments()] == ["team"]
        entries = gov.audit_entries(actor="ci")
        assert [e.action for e in entries] == ["experiment.create", "run.create"]
        assert entries[0].address == "127.0.0.1"
    finally:
        stop()
        db.dispose()
