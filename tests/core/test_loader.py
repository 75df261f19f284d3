"""Plugins are found through entry points, including ones installed while the process runs."""

from __future__ import annotations

import sys

from litegate import loader


def test_builtins_are_entry_points():
    assert {"auth", "logging"} <= set(loader.available_plugins())
    assert {"openai", "mock", "anthropic", "bedrock", "gemini"} <= set(loader.available_providers())


def test_a_package_installed_after_a_first_load_is_found(tmp_path, monkeypatch):
    loader.plugin_classes(["auth"])  # fills stevedore's caches first
    (tmp_path / "late_plugin.py").write_text("class Late:\n    pass\n")
    dist = tmp_path / "late_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[litegate.plugins]\nlate = late_plugin:Late\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    classes, missing = loader.plugin_classes(["late"])
    assert not missing and classes["late"].__name__ == "Late"
    assert "late" in loader.available_plugins()
    monkeypatch.delitem(sys.modules, "late_plugin", raising=False)
