"""Testing kit for litegate and its plugin authors.

- `FakeOpenAI`: a real HTTP server speaking OpenAI's wire format, with scripted failures.
- `GatewayServer`: serve a Gateway over real HTTP (Hypercorn, in a thread) for SDK clients.
- `make_call` / `run_hook`: call one plugin's hook directly in a unit test.

The pytest plugin (`litegate.testing.pytest_plugin`, loaded automatically) wraps these in
fixtures: ``fake_openai``, ``serve_gateway`` and ``make_gateway``.
"""

from .fake_openai import FakeOpenAI
from .harness import make_call, run_hook
from .processes import litegate_serve, serve_processes
from .server import GatewayServer, free_port

__all__ = [
    "FakeOpenAI",
    "GatewayServer",
    "free_port",
    "litegate_serve",
    "make_call",
    "run_hook",
    "serve_processes",
]
