"""The pluggy markers plugins import: ``from litegate import hookimpl``."""

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "litegate"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
