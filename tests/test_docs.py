"""The docs stay true to the code.

- every hook is documented and states its dispatch mode;
- docs/hooks.md and docs/configuration.md are what scripts/gen_docs.py makes of the code now;
- every config key of the built-in classes has a ``#:`` comment;
- pipeline.example.toml passes ``litegate check`` and every key it uses is documented;
- the examples in README.md and docs/writing-plugins.md run.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest

from litegate import hookspecs
from litegate.markers import PROJECT
from litegate.testing import make_call, run_hook

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LITEGATE = [sys.executable, "-m", "litegate.cli"]


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_docs"] = module
    spec.loader.exec_module(module)
    return module


gen_docs = _load_generator()


@attrs.frozen
class Block:
    """One fenced code block of a Markdown file."""

    lang: str
    #: The ``file=NAME`` of the info string, for blocks that are a whole file.
    file: str | None
    code: str


def code_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```(\w*)([^\n]*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL):
        lang, info, code = match.groups()
        file = re.search(r"\bfile=(\S+)", info)
        found.append(Block(lang, file.group(1) if file else None, code))
    return found


def sections(markdown: str) -> dict[str, str]:
    """Each heading's text, with everything under it up to the next heading of its level."""
    headings = list(re.finditer(r"^(#+) (.+)$", markdown, re.MULTILINE))
    found = {}
    for index, heading in enumerate(headings):
        level = len(heading.group(1))
        end = len(markdown)
        for later in headings[index + 1 :]:
            if len(later.group(1)) <= level:
                end = later.start()
                break
        found[heading.group(2).strip()] = markdown[heading.end() : end]
    return found


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=90, **kwargs)


# ---------------------------------------------------------------------------------------------
# The hook contract


def _hookspec_functions() -> dict[str, Any]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if inspect.isfunction(fn) and hasattr(fn, f"{PROJECT}_spec")
    }


def test_every_hook_is_documented_with_its_mode():
    specs = _hookspec_functions()
    assert specs, "no hookspecs found"
    problems = []
    for name, fn in specs.items():
        mode = hookspecs.MODES.get(name)
        doc = inspect.getdoc(fn) or ""
        if mode is None:
            problems.append(f"{name}: missing from hookspecs.MODES")
        if not doc.strip():
            problems.append(f"{name}: no docstring")
        elif mode is not None and f"Mode: {mode}" not in doc:
            problems.append(f'{name}: the docstring does not say "Mode: {mode}"')
    problems += [
        f"{name}: in MODES but not a hookspec" for name in hookspecs.MODES if name not in specs
    ]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Generated references


def test_generated_docs_are_fresh():
    stale = [str(path.relative_to(ROOT)) for path in gen_docs.stale()]
    assert not stale, f"stale: {', '.join(stale)}; run `python scripts/gen_docs.py`"


def test_check_mode_fails_on_stale_docs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gen_docs, "DOCS", tmp_path)
    assert gen_docs.main(["--check"]) == 1
    assert "hooks.md is stale" in capsys.readouterr().err
    assert gen_docs.main([]) == 0
    assert gen_docs.main(["--check"]) == 0


def test_every_hook_is_in_hooks_md():
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    for name, mode in hookspecs.MODES.items():
        assert f"### {name}\n" in text
        assert f"| [`{name}`](#{name}) | {mode} |" in text


def test_every_config_key_has_a_comment():
    missing = gen_docs.missing_comments()
    assert not missing, "config keys without a `#:` comment:\n" + "\n".join(missing)


def test_comment_extraction():
    @attrs.frozen
    class Example:
        #: First line,
        #: second line.
        documented: int = 1
        trailing: str = "x"  #: On the same line.
        bare: bool = False

    assert gen_docs.field_comments(Example) == {
        "documented": "First line, second line.",
        "trailing": "On the same line.",
    }


# ---------------------------------------------------------------------------------------------
# pipeline.example.toml


def test_example_config_passes_check():
    result = run([*LITEGATE, "check", "pipeline.example.toml"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_every_key_of_the_example_config_is_documented():
    example = tomllib.loads((ROOT / "pipeline.example.toml").read_text(encoding="utf-8"))
    reference = sections((DOCS / "configuration.md").read_text(encoding="utf-8"))
    undocumented = []

    def expect(section: str, keys: Any, where: str) -> None:
        text = reference.get(section)
        if text is None:
            undocumented.append(f"{where}: no section {section!r} in configuration.md")
            return
        undocumented.extend(f"{where}.{k}" for k in keys if f"`{k}`" not in text)

    expect("`[server]`", example.get("server", {}), "server")
    expect("`[state]`", example.get("state", {}), "state")
    common = reference["`[[models]]`"]
    for index, entry in enumerate(example.get("pipeline", [])):
        where = f"pipeline[{index}]"
        expect("`[[pipeline]]`", ("plugin", "id"), "pipeline")
        expect(f"Plugin `{entry['plugin']}`", set(entry) - {"plugin", "id"}, where)
    for index, entry in enumerate(example.get("models", [])):
        own = {key for key in entry if f"`{key}`" not in common.split("### Provider")[0]}
        expect(f"Provider `{entry['provider']}`", own, f"models[{index}]")
    assert not undocumented, "undocumented keys: " + ", ".join(undocumented)


def test_relative_links_resolve():
    broken = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        prose = re.sub(r"^```.*?^```$", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
        prose = re.sub(r"`[^`\n]*`", "", prose)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", prose):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "broken links: " + ", ".join(broken)


# ---------------------------------------------------------------------------------------------
# README.md examples, against the example config on the mock provider


@pytest.fixture
def example_server(serve_gateway):
    return serve_gateway((ROOT / "pipeline.example.toml").read_text(encoding="utf-8"))


def _readme_env(fake_openai: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LITEGATE_"))}
    env.update(OPENAI_API_KEY="sk-fake-key", OPENAI_BASE_URL=fake_openai.base_url)
    return env


README_PYTHON = [b.code for b in code_blocks(ROOT / "README.md") if b.lang == "python"]


def test_readme_has_python_examples():
    assert len(README_PYTHON) >= 3


@pytest.mark.parametrize("code", README_PYTHON, ids=lambda code: code.split("\n")[0][:40])
def test_readme_python_example_runs(code, example_server, fake_openai):
    code = code.replace("http://127.0.0.1:4000", example_server.url)
    result = run([sys.executable, "-c", code], cwd=ROOT, env=_readme_env(fake_openai))
    assert result.returncode == 0, f"{code}\n--- failed with:\n{result.stderr}"
    assert "mock provider answering" in result.stdout or "fake upstream" in result.stdout


def test_readme_curl_example_runs(example_server):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    commands = [
        b.code for b in code_blocks(ROOT / "README.md") if b.lang == "sh" and "curl" in b.code
    ]
    assert commands
    for command in commands:
        result = run(["bash", "-c", command.replace("http://127.0.0.1:4000", example_server.url)])
        assert result.returncode == 0, result.stderr
        assert '"error"' not in result.stdout and "mock provider answering" in result.stdout


def test_readme_names_every_api_route():
    from litegate import Gateway
    from litegate.app import create_app

    gateway = Gateway.from_config(ROOT / "pipeline.example.toml", env={})
    app = create_app(gateway)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = {
        route.path.split("{")[0].rstrip("/")
        for route in app.app.routes  # type: ignore[attr-defined]  # under the middleware
        if route.path.startswith("/v1/")
    }
    missing = sorted(p for p in paths if not re.search(re.escape(p) + r"(?![\w/])", readme))
    assert not missing, f"README.md does not mention: {', '.join(missing)}"


def test_readme_plugins_command_runs():
    result = run([*LITEGATE, "plugins"], cwd=ROOT)
    assert result.returncode == 0 and "auth" in result.stdout, result.stderr


# ---------------------------------------------------------------------------------------------
# docs/writing-plugins.md: the tutorial's code is real


TUTORIAL = DOCS / "writing-plugins.md"


def _files(name: str) -> list[str]:
    """Every version of file `name` the tutorial shows, first to last."""
    return [b.code for b in code_blocks(TUTORIAL) if b.file == name]


def _final_plugin() -> str:
    return _files("banned_words.py")[-1]


def test_tutorial_excerpts_come_from_the_final_plugin():
    """Python blocks that are not whole files are excerpts of the finished plugin."""
    final = [line.strip() for line in _final_plugin().splitlines()]
    for block in code_blocks(TUTORIAL):
        if block.lang != "python" or block.file is not None:
            continue
        position = 0
        for line in (line.strip() for line in block.code.splitlines()):
            if not line or line == "...":
                continue
            try:
                position = final.index(line, position) + 1
            except ValueError:
                pytest.fail(f"excerpt line not in the final plugin (in this order): {line!r}")


def _import_plugin(code: str, tmp_path: Path, name: str, monkeypatch: Any) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered for the test's duration: attrs and inspect look classes up by module.
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


async def test_tutorial_first_plugin_rejects_the_banned_word(tmp_path, monkeypatch):
    from litegate import GatewayError

    first = _import_plugin(_files("banned_words.py")[0], tmp_path, "banned_words_1", monkeypatch)
    assert len(_files("banned_words.py")[0].strip().splitlines()) <= 15
    plugin = first.BannedWords()
    await run_hook(plugin, "pre_call", call=make_call())
    call = make_call({"model": "m", "messages": [{"role": "user", "content": "bananas!"}]})
    with pytest.raises(GatewayError) as refused:
        await run_hook(plugin, "pre_call", call=call)
    assert refused.value.status == 400


def _install_tutorial(tmp_path: Path, plugin: str, pyproject: str) -> dict[str, str]:
    """Make the tutorial's package importable with its entry points, as `pip install -e .`
    would, without touching the venv: a module and a .dist-info on PYTHONPATH."""
    (tmp_path / "banned_words.py").write_text(plugin, encoding="utf-8")
    project = tomllib.loads(pyproject)["project"]
    info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    groups = []
    for group, entries in project["entry-points"].items():
        groups.append(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
    (info / "entry_points.txt").write_text("\n".join(groups), encoding="utf-8")
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize("version", ["first", "final"])
def test_tutorial_pipeline_passes_check_through_the_entry_point(tmp_path, version):
    index = 0 if version == "first" else -1
    env = _install_tutorial(
        tmp_path, _files("banned_words.py")[index], _files("pyproject.toml")[-1]
    )
    (tmp_path / "pipeline.toml").write_text(_files("pipeline.toml")[index], encoding="utf-8")
    result = run([*LITEGATE, "check", "pipeline.toml"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "banned_words" in result.stdout
    listed = run([*LITEGATE, "plugins"], cwd=tmp_path, env=env)
    assert "banned_words" in listed.stdout


def test_tutorial_tests_pass(tmp_path):
    env = _install_tutorial(tmp_path, _final_plugin(), _files("pyproject.toml")[-1])
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_banned_words.py").write_text(
        _files("tests/test_banned_words.py")[-1], encoding="utf-8"
    )
    # -p no:asyncio: the tutorial's tests are plain functions; without a config of its own,
    # pytest-asyncio (installed here for litegate's tests) would warn about its defaults.
    pytest_args = ["-q", "-W", "error", "-p", "no:cacheprovider", "-p", "no:asyncio", "tests"]
    result = run([sys.executable, "-m", "pytest", *pytest_args], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_tutorial_final_plugin_is_documented_like_ours(tmp_path, monkeypatch):
    """The tutorial's Config follows the rule it teaches: every key has a `#:` comment."""
    final = _import_plugin(_final_plugin(), tmp_path, "banned_words_final", monkeypatch)
    config = final.BannedWords.Config
    assert set(gen_docs.field_comments(config)) == {f.name for f in attrs.fields(config)}


def test_tutorial_code_is_dedented_python():
    for block in code_blocks(TUTORIAL):
        if block.lang == "python" and block.file is not None:
            compile(textwrap.dedent(block.code), block.file, "exec")


async def test_providers_md_example_provider_works(tmp_path, monkeypatch):
    """The third-party provider in docs/providers.md, against a local upstream."""
    from aiohttp import web

    from litegate import Gateway
    from litegate.testing import free_port

    (block,) = [b for b in code_blocks(DOCS / "providers.md") if b.lang == "python"]
    (tmp_path / "my_provider.py").write_text(block.code)
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_provider

    seen = []

    async def generate(request: web.Request) -> web.Response:
        seen.append((request.headers["authorization"], await request.json()))
        return web.json_response({"text": "hello back"})

    app = web.Application()
    app.router.add_post("/v1/generate", generate)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    toml = (
        f'[[models]]\nname = "e"\nprovider = "echo"\napi_base = "http://127.0.0.1:{port}"\n'
        'api_key = "k"\nflavour = "x"\n'
    )
    try:
        async with Gateway.from_toml(toml, {}, providers={"echo": my_provider.EchoProvider}) as gw:
            reply = await gw.chat(model="e", messages=[{"role": "user", "content": "hi"}])
    finally:
        await runner.cleanup()
        monkeypatch.delitem(sys.modules, "my_provider")
    assert reply["choices"][0]["message"]["content"] == "hello back"
    assert seen == [("Bearer k", {"prompt": "hi", "model": "e"})]
