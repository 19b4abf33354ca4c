"""Migration 0005: objects made before projects go to the ``default`` project, and it reverts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import callisto.store.migrations
from callisto.store.database import sync_url
from tests.integration.conftest import BACKENDS, fresh_database

OLD_ROWS = [
    "INSERT INTO assistants (id, created_at, model, tools, metadata, response_format) "
    "VALUES ('asst_old', 1, 'm', '[]', '{}', '\"auto\"')",
    "INSERT INTO assistants (id, created_at, model, tools, metadata, response_format) "
    "VALUES ('callisto_responses', 1, 'm', '[]', '{}', '\"auto\"')",
    "INSERT INTO threads (id, created_at, metadata) VALUES ('thread_old', 1, '{}')",
    "INSERT INTO responses (id, created_at, thread_id, run_id, model, background, store, "
    "begins, start_seq, request, input_items) VALUES ('resp_old', 1, 'thread_old', 'run_x', "
    "'m', false, true, 'b', 0, '{}', '[]')",
    "INSERT INTO entities_tools (id, created_at, tool) VALUES ('tool_old', 1, '{}')",
]


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(callisto.store.migrations.__file__).parent))
    config.attributes["sqlalchemy_url"] = sync_url(url)
    return config


def test_rows_older_than_projects_are_the_default_projects(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0004")
    engine = sa.create_engine(sync_url(empty_database))
    with engine.begin() as db:
        for statement in OLD_ROWS:
            db.execute(sa.text(statement))
    command.upgrade(config, "0005")
    with engine.connect() as db:
        for table in ("assistants", "threads", "responses", "entities_tools"):
            query = f"SELECT project_id FROM {table} WHERE id LIKE '%_old'"
            assert db.scalar(sa.text(query)) == "default", table
        internal = "SELECT project_id FROM assistants WHERE id = 'callisto_responses'"
        assert db.scalar(sa.text(internal)) == "callisto:internal"
        assert db.scalar(sa.text("SELECT id FROM projects")) == "default"
    command.downgrade(config, "0004")
    with engine.connect() as db:
        assert db.scalar(sa.text("SELECT id FROM entities_tools")) == "tool_old"
        assert db.scalar(sa.text("SELECT id FROM threads")) == "thread_old"
    command.upgrade(config, "head")
    engine.dispose()
