"""`litegate db upgrade` and `litegate db current`."""

from __future__ import annotations

import pytest

from litegate.cli import main
from litegate.db import Database


@pytest.fixture
def config(db_url, tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(f'[state]\ndb = "{db_url}"\n')
    return path


def test_upgrade_then_current(config, db_url, capsys):
    head = Database.head_revision()
    assert main(["db", "current", "--config", str(config)]) == 0
    assert "not migrated" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert f"at revision {head} (head)" in capsys.readouterr().out
    assert main(["db", "upgrade", "-c", str(config)]) == 0  # again: nothing to do
    assert f"at revision {head} (head)" in capsys.readouterr().out
    assert main(["db", "current", "--config", str(config)]) == 0
    assert f"at revision {head} (head)" in capsys.readouterr().out


def test_current_does_not_create_a_sqlite_file(tmp_path, capsys):
    path = tmp_path / "pipeline.toml"
    path.write_text(f'[state]\ndb = "sqlite:///{tmp_path}/none/lg.db"\n')
    assert main(["db", "current", "--config", str(path)]) == 0
    assert "not migrated" in capsys.readouterr().out
    assert not (tmp_path / "none").exists()


def test_unreachable_database_is_reported_without_secrets(tmp_path, capsys):
    path = tmp_path / "pipeline.toml"
    # Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    path.write_text('[state]\ndb = "postgresql://admin:hunter2@127.0.0.1:1/none"\n')
    assert main(["db", "upgrade", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "admin:***@127.0.0.1:1/none" in err
    assert "hunter2" not in err


def test_a_bad_config_is_reported(tmp_path, capsys):
    path = tmp_path / "pipeline.toml"
    path.write_text('[state]\ndb = "mysql://x"\n')
    assert main(["db", "upgrade", "--config", str(path)]) == 2
    assert "state.db" in capsys.readouterr().err
