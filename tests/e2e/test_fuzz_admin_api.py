"""Fuzzing the admin API over real HTTP with schemathesis, from the document it serves
(`GET /admin/v1/openapi.json`), as the master key: generated requests, valid and invalid, to
every operation must never get a 5xx, and every answer must match the document. Derandomized
and bounded, so CI runs the same examples each time."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from litegate import Gateway
from litegate.testing.server import GatewayServer

MASTER = "sk-fuzz-admin-master"
AUTH = {"authorization": f"Bearer {MASTER}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz-admin") / "records.db"
    config = f"""
[state]
kv = "memory:"
db = "sqlite:///{db}"

[[pipeline]]
plugin = "auth"
master_key = "{MASTER}"
virtual_keys = true

[[pipeline]]
plugin = "admin"

[[models]]
name = "m"
provider = "mock"
"""
    running = GatewayServer(Gateway.from_toml(config, env={})).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def document(server) -> dict:
    answer = httpx.get(server.url + "/admin/v1/openapi.json", headers=AUTH)
    assert answer.status_code == 200
    return answer.json()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_admin_request_gets_a_server_error(server, document, mode):
    schema = schemathesis.openapi.from_dict(document)
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # every admin route is in the document
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:
            case.call_and_validate(base_url=server.url, headers=AUTH, timeout=30, checks=checks)

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, not just the first
            if "Unsatisfiable" in type(exc).__name__:
                continue  # nothing to get wrong in this operation (no input)
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
