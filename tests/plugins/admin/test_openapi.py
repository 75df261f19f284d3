"""`/admin/v1/openapi.json`: an OpenAPI 3.1 document describing every route served."""

from __future__ import annotations

import httpx
from starlette.routing import Route

from litegate.plugins.admin.plugin import AdminPlugin
from litegate.plugins.admin.rbac import ACTIONS


def test_every_served_route_is_described(world):
    document = httpx.get(world.url + "/admin/v1/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    served = {
        (route.path, method.lower())
        for route in AdminPlugin(AdminPlugin.Config()).routes(gateway=None)
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served == described
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_references_resolve_and_roles_match_the_policy(world):
    document = httpx.get(world.url + "/admin/v1/openapi.json").json()
    schemas = document["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(document):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    roles = {frozenset(r) for r in ACTIONS.values()}
    for path, item in document["paths"].items():
        for op in item.values():
            if path.endswith("openapi.json"):
                continue
            assert frozenset(op["x-roles"]) in roles
            assert set(op["responses"]) >= {"400", "401", "403"}
    key = schemas["Key"]["properties"]
    assert "key" not in key and "key_hash" not in key
    assert "key" in schemas["KeyCreated"]["properties"]


def test_served_responses_match_their_schemas(world):
    jsonschema = __import__("jsonschema")
    document = httpx.get(world.url + "/admin/v1/openapi.json").json()
    resolver_doc = {"components": document["components"]}

    def check(body, name):
        schema = {"$ref": f"#/components/schemas/{name}", **resolver_doc}
        jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)

    with world.client() as admin:
        created = admin.post("/keys", json={"name": "x", "team_id": world.platform}).json()
        check(created, "KeyCreated")
        check(admin.get(f"/keys/{created['id']}").json(), "Key")
        check(admin.get("/keys").json(), "KeyList")
        check(admin.get(f"/teams/{world.platform}").json(), "Team")
        check(admin.get("/users").json(), "UserList")
        check(admin.get("/organizations").json(), "OrganizationList")
        check(admin.get("/audit").json(), "AuditEntryList")
        check(admin.get("/keys/nope").json(), "Error")
