"""The config page under hot reload (`ReloadableApp`, in-process over ASGI): the file as
loaded with secrets masked, the reload button swapping in an edited file, and a broken edit
refused with the old config still serving."""

from __future__ import annotations

from pathlib import Path

import httpx

from litegate import Gateway
from litegate.reload import ReloadableApp

from .conftest import MASTER_KEY, csrf_of

UPSTREAM_SECRET = "sk-upstream-canary-9876543210"


def config(tmp_path: Path, *aliases: str) -> str:
    models = "".join(
        f'\n[[models]]\nname = "{alias}"\nprovider = "mock"\napi_key = "{UPSTREAM_SECRET}"\n'
        for alias in aliases
    )
    return f"""
[server]
reload = "signal"

[state]
kv = "disk:{tmp_path}/kv"
db = "sqlite:///{tmp_path}/records.db"

[[pipeline]]
plugin = "auth"
master_key = "{MASTER_KEY}"

[[pipeline]]
plugin = "ui"
{models}"""


async def test_config_page_shows_masked_config_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(config(tmp_path, "demo"))
    app = ReloadableApp(path, Gateway.from_config(path))
    await app.gateway.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            form = await client.get("/ui/login")
            signed = await client.post(
                "/ui/login", data={"csrf": csrf_of(form.text), "credential": MASTER_KEY}
            )
            assert signed.status_code == 303

            page = await client.get("/ui/config")
            assert page.status_code == 200
            assert 'id="generation">1<' in page.text
            assert UPSTREAM_SECRET not in page.text and MASTER_KEY not in page.text
            assert "********" in page.text and 'id="reload"' in page.text

            path.write_text(config(tmp_path, "demo", "fresh"))
            reloaded = await client.post("/ui/config/reload", data={"csrf": csrf_of(page.text)})
            assert reloaded.status_code == 303
            page = await client.get(reloaded.headers["location"])
            assert "Reloaded" in page.text and 'id="generation">2<' in page.text
            assert "fresh" in page.text

            path.write_text("not toml [")
            refused = await client.post("/ui/config/reload", data={"csrf": csrf_of(page.text)})
            assert refused.status_code == 422
            assert "rejected" in refused.text and 'id="generation">2<' in refused.text
            assert app.current.number == 2
    finally:
        await app.gateway.aclose()
