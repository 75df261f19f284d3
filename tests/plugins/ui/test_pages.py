"""The admin UI over real HTTP: sign-in and sign-out, CSRF, roles, and each page showing
real data (traffic through the mock provider, keys and teams made through the UI)."""

from __future__ import annotations

import re

import httpx

from .conftest import (
    MASTER_KEY,
    MEMBER_KEY,
    TEAM_ADMIN_KEY,
    VIEWER_KEY,
    Served,
    csrf_of,
    sign_in,
)

PAGES = ["overview", "spend", "keys", "orgs", "teams", "users", "models", "requests", "config"]


def test_every_page_needs_a_session(served: Served) -> None:
    client = served.client()
    for page in PAGES:
        response = client.get(f"/ui/{page}")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login"
    assert client.post("/ui/keys", data={"name": "x"}).status_code == 401


def test_sign_in_with_a_wrong_key_is_refused(served: Served) -> None:
    client = served.client()
    response = sign_in(client, "sk-not-a-key")
    assert response.status_code == 401
    assert "not accepted" in response.text
    assert "litegate_ui=" not in response.headers.get("set-cookie", "")


def test_sign_in_needs_the_login_form_token(served: Served) -> None:
    client = served.client()
    client.get("/ui/login")
    response = client.post("/ui/login", data={"csrf": "forged", "credential": MASTER_KEY})
    assert response.status_code == 403
    assert client.get("/ui/overview").status_code == 303


def test_session_cookie_is_httponly_strict_and_holds_no_key(served: Served) -> None:
    client = served.client()
    form = client.get("/ui/login")
    response = client.post("/ui/login", data={"csrf": csrf_of(form.text), "credential": MASTER_KEY})
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("litegate_ui=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/ui" in cookie
    assert MASTER_KEY not in cookie
    page = client.get("/ui/overview")
    assert page.status_code == 200
    assert MASTER_KEY not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_sign_out_ends_the_session(served: Served) -> None:
    client = served.sign_in()
    page = client.get("/ui/overview")
    stolen = dict(client.cookies)
    response = client.post("/ui/logout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert client.get("/ui/overview").status_code == 303
    # The old cookie is worthless once signed out.
    replay = served.client()
    replay.cookies.update(stolen)
    assert replay.get("/ui/overview").status_code == 303


def test_posts_without_the_csrf_token_are_refused(served: Served) -> None:
    client = served.sign_in()
    for data in ({"name": "x"}, {"name": "x", "csrf": "wrong"}):
        response = client.post("/ui/keys", data=data)
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert "No keys yet" in client.get("/ui/keys").text
    assert client.post("/ui/logout", data={}).status_code == 403


def test_pages_show_real_traffic(served: Served) -> None:
    for _ in range(5):
        assert served.chat().status_code == 200
    assert served.chat("other").status_code == 200
    client = served.sign_in()
    served.wait_logged(6, client)

    overview = client.get("/ui/overview").text
    assert "<svg" in overview and "<rect" in overview and "<polyline" in overview
    assert re.search(r'id="total-requests">(\d+)<', overview)

    spend = client.get("/ui/spend", params={"by": "model"}).text
    table = spend[spend.index('id="spend-table"') :]
    assert ">m<" in table and ">5<" in table
    csv = client.get("/ui/spend.csv", params={"by": "model"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0].startswith("model,cost,requests")
    assert any(line.startswith("m,") and ",5," in line for line in lines)

    log = client.get("/ui/requests").text
    assert log.count("<td>m</td>") == 5 and log.count("<td>other</td>") == 1
    only_other = client.get("/ui/requests", params={"model": "other"}).text
    assert only_other.count("<td>other</td>") == 1 and "<td>m</td>" not in only_other
    assert "No calls match" in client.get("/ui/requests", params={"status": "5xx"}).text
    assert client.get("/ui/requests", params={"status": "abc"}).status_code == 400

    models = client.get("/ui/models").text
    assert "m#0" in models and "mock" in models and "healthy" in models

    config = client.get("/ui/config").text
    assert "ui" in config and MASTER_KEY not in config and VIEWER_KEY not in config
    assert "********" in config


def test_keys_create_use_edit_and_revoke(served: Served) -> None:
    client = served.sign_in()
    page = client.get("/ui/keys")
    created = client.post(
        "/ui/keys",
        data={"csrf": csrf_of(page.text), "name": "ci <script>", "rpm_limit": "100"},
    )
    assert created.status_code == 201
    secret = re.search(r'id="secret">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    assert secret.startswith("sk-")
    assert "ci &lt;script&gt;" in created.text and "<script>" not in created.text
    assert served.chat(key=secret).status_code == 200

    listing = client.get("/ui/keys").text
    assert secret not in listing  # the secret is shown once, never again
    key_id = re.search(r'href="/ui/keys/([0-9a-f-]+)"', listing).group(1)  # type: ignore[union-attr]
    assert ">100<" in listing

    edit = client.get(f"/ui/keys/{key_id}")
    assert edit.status_code == 200 and secret not in edit.text
    saved = client.post(
        f"/ui/keys/{key_id}",
        data={"csrf": csrf_of(edit.text), "rpm_limit": "7", "tpm_limit": "5000"},
    )
    assert saved.status_code == 303
    listing = client.get("/ui/keys").text
    assert ">7<" in listing and ">5000<" in listing
    bad = client.post(f"/ui/keys/{key_id}", data={"csrf": csrf_of(edit.text), "rpm_limit": "x"})
    assert bad.status_code == 400

    revoked = client.post(f"/ui/keys/{key_id}/revoke", data={"csrf": csrf_of(listing)})
    assert revoked.status_code == 303
    assert "revoked" in client.get("/ui/keys").text
    assert served.chat(key=secret).status_code == 401

    # The same code path as the admin API: its audit log has the UI's changes.
    audit = httpx.get(
        served.url + "/admin/v1/audit",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    ).json()
    actions = [entry["action"] for entry in audit["data"]]
    assert {"key.create", "key.update", "key.revoke"} <= set(actions)


def test_a_key_is_rotated_with_a_grace_period(served: Served) -> None:
    """Rotate from the key's page: a new secret shown once, the old one still works for the
    grace period chosen ("no longer": at once refused)."""
    client = served.sign_in()
    page = client.get("/ui/keys")
    created = client.post("/ui/keys", data={"csrf": csrf_of(page.text), "name": "rotating"})
    old = re.search(r'id="secret">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    listing = client.get("/ui/keys").text
    key_id = re.search(r'href="/ui/keys/([0-9a-f-]+)">rotating', listing).group(1)  # type: ignore[union-attr]
    edit = client.get(f"/ui/keys/{key_id}")
    assert 'id="rotate-key"' in edit.text

    rotated = client.post(
        f"/ui/keys/{key_id}/rotate", data={"csrf": csrf_of(edit.text), "grace_period": "1h"}
    )
    assert rotated.status_code == 201 and "rotated" in rotated.text
    new = re.search(r'id="secret">([^<]+)<', rotated.text).group(1)  # type: ignore[union-attr]
    assert new != old and new.startswith("sk-")
    assert served.chat(key=new).status_code == 200
    assert served.chat(key=old).status_code == 200  # within its grace period

    listing = client.get("/ui/keys").text
    new_id = re.findall(r'href="/ui/keys/([0-9a-f-]+)">rotating', listing)[-1]
    edit = client.get(f"/ui/keys/{new_id}")
    rotated = client.post(
        f"/ui/keys/{new_id}/rotate", data={"csrf": csrf_of(edit.text), "grace_period": "0s"}
    )
    assert rotated.status_code == 201
    assert served.chat(key=new).status_code == 401  # no grace: refused at once
    bad = client.post(
        f"/ui/keys/{new_id}/rotate", data={"csrf": csrf_of(edit.text), "grace_period": "x"}
    )
    assert bad.status_code in (400, 409)


def test_teams_and_users(served: Served) -> None:
    client = served.sign_in()
    page = client.get("/ui/teams")
    response = client.post(
        "/ui/teams", data={"csrf": csrf_of(page.text), "name": "platform", "tpm_limit": "9000"}
    )
    assert response.status_code == 303
    teams = client.get("/ui/teams").text
    assert "platform" in teams and ">9000<" in teams
    refused = client.post(
        "/ui/teams", data={"csrf": csrf_of(teams), "name": "x", "rpm_limit": "many"}
    )
    assert refused.status_code == 400 and "whole number" in refused.text
    team_id = re.search(r'<option value="([0-9a-f-]+)">platform<', client.get("/ui/users").text)
    assert team_id
    users = client.get("/ui/users")
    response = client.post(
        "/ui/users",
        data={
            "csrf": csrf_of(users.text),
            "email": "ann@example.test",
            "name": "Ann",
            "team_id": team_id.group(1),
            "role": "viewer",
        },
    )
    assert response.status_code == 303
    listing = client.get("/ui/users").text
    assert "ann@example.test" in listing and "viewer" in listing

    # A key of that team: its page names the team (and still shows the id).
    keys = client.get("/ui/keys")
    created = client.post(
        "/ui/keys",
        data={"csrf": csrf_of(keys.text), "name": "team-key", "team_id": team_id.group(1)},
    )
    assert created.status_code == 201
    listing = client.get("/ui/keys").text
    key_id = re.search(r'href="/ui/keys/([0-9a-f-]+)">team-key<', listing)
    assert key_id
    team = re.search(r'<dd id="team">(.*?)</dd>', client.get(f"/ui/keys/{key_id.group(1)}").text)
    assert team and "platform" in team.group(1) and team_id.group(1) in team.group(1)


def test_organizations_and_their_teams(served: Served) -> None:
    """An admin creates an organization (with a monthly budget), then a team in it; the
    teams page names the team's organization."""
    client = served.sign_in()
    page = client.get("/ui/orgs")
    created = client.post(
        "/ui/orgs",
        data={"csrf": csrf_of(page.text), "name": "acme <b>", "max_budget": "250",
              "budget_period": "monthly"},
    )  # fmt: skip
    assert created.status_code == 303
    orgs = client.get("/ui/orgs").text
    assert "acme &lt;b&gt;" in orgs and "$250.00" in orgs and "monthly" in orgs
    assert client.post("/ui/orgs", data={"csrf": csrf_of(orgs), "name": ""}).status_code == 400

    teams = client.get("/ui/teams").text
    org_id = re.search(r'<option value="([0-9a-f-]+)">acme &lt;b&gt;<', teams)
    assert org_id
    made = client.post(
        "/ui/teams",
        data={"csrf": csrf_of(teams), "name": "acme-ml", "org_id": org_id.group(1)},
    )
    assert made.status_code == 303
    row = re.search(r"<tr><td>acme-ml</td>.*?</tr>", client.get("/ui/teams").text, re.S)
    assert row and "acme &lt;b&gt;" in row.group(0)


def test_a_viewer_reads_but_can_not_change(served: Served) -> None:
    client = served.sign_in(VIEWER_KEY)
    for page in PAGES:
        assert client.get(f"/ui/{page}").status_code == 200, page
    keys = client.get("/ui/keys").text
    assert 'id="create-key"' not in keys
    token = csrf_of(keys)
    response = client.post("/ui/keys", data={"csrf": token, "name": "sneaky"})
    assert response.status_code == 403
    assert client.post("/ui/teams", data={"csrf": token, "name": "t"}).status_code == 403
    assert client.post("/ui/orgs", data={"csrf": token, "name": "o"}).status_code == 403
    assert 'id="create-org"' not in client.get("/ui/orgs").text
    assert client.post("/ui/config/reload", data={"csrf": token}).status_code == 403


def test_a_member_sees_only_what_its_role_allows(served: Served) -> None:
    client = served.client()
    assert sign_in(client, MEMBER_KEY).headers["location"] == "/ui/keys"
    assert client.get("/ui/config").status_code == 403
    assert client.get("/ui/spend").status_code == 403
    assert client.get("/ui/requests").status_code == 403
    assert client.get("/ui/orgs").status_code == 403
    nav = client.get("/ui/models").text
    assert 'href="/ui/config"' not in nav and 'href="/ui/keys"' in nav
    assert 'href="/ui/overview"' not in nav and 'href="/ui/requests"' not in nav
    assert 'href="/ui/orgs"' not in nav


def test_a_team_admin_sees_only_its_teams_calls(served: Served) -> None:
    assert served.chat(key=TEAM_ADMIN_KEY).status_code == 200
    for _ in range(3):
        assert served.chat("other").status_code == 200
    served.wait_logged(4, served.sign_in())
    client = served.sign_in(TEAM_ADMIN_KEY)
    overview = client.get("/ui/overview").text
    assert 'id="total-requests">1<' in overview
    log = client.get("/ui/requests").text
    assert log.count("<td>t-ui</td>") == 1 and "<td>other</td>" not in log


def test_a_session_of_a_virtual_key_ends_when_the_key_is_revoked(served: Served) -> None:
    admin = served.sign_in()
    users = admin.get("/ui/users")
    admin.post(
        "/ui/users",
        data={"csrf": csrf_of(users.text), "email": "root@example.test", "role": "admin"},
    )
    user_id = re.search(r"<code>([0-9a-f-]{36})</code>", admin.get("/ui/users").text)
    assert user_id
    keys = admin.get("/ui/keys")
    created = admin.post(
        "/ui/keys",
        data={"csrf": csrf_of(keys.text), "name": "ops", "user_id": user_id.group(1)},
    )
    secret = re.search(r'id="secret">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    ops = served.sign_in(secret)
    assert ops.get("/ui/keys").status_code == 200
    listing = admin.get("/ui/keys").text
    key_id = re.search(r'href="/ui/keys/([0-9a-f-]+)"', listing).group(1)  # type: ignore[union-attr]
    admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf": csrf_of(listing)})
    response = ops.get("/ui/keys")
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
