from __future__ import annotations

from collections.abc import Iterator

import pytest

from .echo_upstream import EchoUpstream


@pytest.fixture
def echo() -> Iterator[EchoUpstream]:
    with EchoUpstream() as upstream:
        yield upstream
