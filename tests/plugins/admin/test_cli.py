"""`litegate keys|users|teams ...` on the `[state] db` of a config, through `main(argv)`."""

from __future__ import annotations

import asyncio

import pytest

from litegate.cli import main
from litegate.db import Database, queries
from litegate.state import open_state


@pytest.fixture
def config(records_url, tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(f'[state]\nkv = "disk:{tmp_path}/kv"\ndb = "{records_url}"\n')
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_teams_users_and_keys(config, records_url, capsys):
    c = ("--config", str(config))
    code, out, _ = _run(
        capsys, "teams", "create", "platform", "--models", "gpt-*,m", "--rpm", "60", *c
    )
    assert code == 0
    team_id = out.split()[2]
    code, out, _ = _run(capsys, "teams", "list", *c)
    assert team_id in out and "gpt-*,m" in out and "60" in out

    code, out, _ = _run(capsys, "users", "create", "--email", "a@x.test", "--role", "team_admin",
                        "--team", team_id, *c)  # fmt: skip
    assert code == 0 and "(team_admin)" in out
    user_id = out.split()[2]
    code, out, _ = _run(capsys, "users", "list", "--team", team_id, *c)
    assert user_id in out and "a@x.test" in out

    code, out, err = _run(capsys, "keys", "create", "--name", "ci", "--team", team_id,
                          "--user", user_id, "--budget", "12.5", "--budget-period", "weekly", *c)  # fmt: skip
    assert code == 0
    secret = out.strip()
    assert secret.startswith(queries.SECRET_PREFIX) and "shown this once" in err
    assert secret not in err
    code, out, _ = _run(capsys, "keys", "list", *c)
    key_id = out.splitlines()[1].split()[0]
    assert "ci" in out and "active" in out and secret not in out
    assert secret[:12] in out  # its prefix

    async def stored():
        async with Database(records_url) as db, db.session() as session:
            key = await queries.get_key(session, key_id)
            audit = await queries.list_audit(session)
            return key, audit.items

    key, audit = asyncio.run(stored())
    assert (
        key.team_id == team_id and key.user_id == user_id and str(key.max_budget) == "12.5000000000"
    )
    assert key.budget_period == "weekly"
    assert [e.action for e in audit] == ["key.create", "user.create", "team.create"]
    assert {e.actor for e in audit} == {"cli"}
    assert secret not in str([(e.before, e.after) for e in audit])


async def test_revoke_and_rotate_are_announced(config, tmp_path, capsys):
    c = ("--config", str(config))
    code = await asyncio.to_thread(main, ["keys", "create", *c])
    key_secret = capsys.readouterr().out.strip()
    await asyncio.to_thread(main, ["keys", "list", *c])
    key_id = capsys.readouterr().out.splitlines()[1].split()[0]

    state = await open_state(f"disk:{tmp_path}/kv")
    async with state.subscribe(queries.KEY_CHANGES_CHANNEL) as messages:
        code = await asyncio.to_thread(main, ["keys", "rotate", key_id, "--grace", "10m", *c])
        assert code == 0
        new_secret = capsys.readouterr().out.strip()
        assert new_secret.startswith(queries.SECRET_PREFIX) and new_secret != key_secret
        expected = queries.hash_secret(key_secret).encode()
        assert await asyncio.wait_for(anext(messages), 10) == expected

        assert await asyncio.to_thread(main, ["keys", "revoke", key_id, *c]) == 0
        assert "revoked" in capsys.readouterr().out
        assert await asyncio.wait_for(anext(messages), 10) == expected
    await state.aclose()

    await asyncio.to_thread(main, ["keys", "list", "--active", *c])
    listed = capsys.readouterr().out
    assert key_id not in listed and len(listed.splitlines()) == 2
    assert await asyncio.to_thread(main, ["keys", "rotate", key_id, *c]) == 1
    assert "revoked" in capsys.readouterr().err


def test_mistakes_are_reported(config, capsys):
    c = ("--config", str(config))
    assert _run(capsys, "keys", "revoke", "nope", *c)[0] == 1
    code, _, err = _run(capsys, "keys", "create", "--team", "nope", *c)
    assert code == 1 and "no team" in err
    assert _run(capsys, "users", "create", "--email", "a@x.test", *c)[0] == 0
    code, _, err = _run(capsys, "users", "create", "--email", "a@x.test", *c)
    assert code == 1 and "conflicts" in err
    for bad in (["--rpm", "-5"], ["--budget", "x"], ["--expires", "tomorrow"]):
        with pytest.raises(SystemExit) as exited:
            main(["keys", "create", *bad, *c])
        assert exited.value.code == 2
    capsys.readouterr()


def test_an_unreachable_database_is_reported_without_its_password(tmp_path, capsys):
    path = tmp_path / "pipeline.toml"
    path.write_text('[state]\nkv = "memory:"\ndb = "postgresql://u:hunter2@127.0.0.1:1/none"\n')
    code, _, err = _run(capsys, "keys", "list", "--config", str(path))
    assert code == 1 and "hunter2" not in err and "127.0.0.1:1" in err


def test_an_existing_secret_is_imported_from_stdin(config, records_url, capsys, monkeypatch):
    """Keys moved from another gateway keep working: the secret comes on stdin (never on the
    command line, where `ps` shows it), is stored hashed, and is never echoed."""
    import io

    c = ("--config", str(config))
    secret = "sk-old-gateway-0123456789abcdef"
    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    code, out, err = _run(capsys, "keys", "create", "--name", "moved", "--secret-stdin", *c)
    assert code == 0 and out == "" and "imported key" in err and secret not in err

    async def found():
        async with Database(records_url) as db, db.session() as session:
            return await queries.find_key(session, secret)

    key = asyncio.run(found())
    assert key is not None and key.name == "moved" and key.key_hash != secret

    monkeypatch.setattr("sys.stdin", io.StringIO(secret + "\n"))
    code, _, err = _run(capsys, "keys", "create", "--secret-stdin", *c)
    assert code == 1 and "conflicts" in err  # the same secret twice

    for weak in ("short-one", "has spaces in the middle of it", ""):
        monkeypatch.setattr("sys.stdin", io.StringIO(weak + "\n"))
        code, _, err = _run(capsys, "keys", "create", "--secret-stdin", *c)
        assert code == 1 and "--secret-stdin" in err and (not weak or weak not in err)
