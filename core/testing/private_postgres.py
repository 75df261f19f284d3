"""A PostgreSQL server of a test's own, to stop and start during traffic.

The shared server (127.0.0.1:5432) serves every parallel test, so outage tests can't stop
it; this one is made with ``initdb`` in a temporary directory, run as the ``postgres``
user (PostgreSQL refuses to run as root) on a free port of 127.0.0.1, and removed after.
Needs the machine's PostgreSQL binaries and, as root, ``runuser``; elsewhere the test
skips (or fails, when the services are required).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .server import free_port
from .services import REQUIRE_ENV

__all__ = ["PrivatePostgres", "private_postgres"]


class PrivatePostgres:
    def __init__(self, bin_dir: str, data: str, port: int) -> None:
        self.bin_dir = bin_dir
        self.data = data
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{self.bin_dir}/pg_ctl", "-D", self.data,
             "-w", "-t", "60", *args],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data}"
        )
        self._ctl("-o", options, "-l", f"{self.data}/server.log", "start")

    def stop(self) -> None:
        """Stop at once (clients are disconnected), as a crash or a failover would."""
        self._ctl("-m", "immediate", "stop")


def _bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    usable = bin_dir is not None and os.geteuid() == 0 and shutil.which("runuser") is not None
    if not usable:
        reason = "a private PostgreSQL needs its binaries, root and runuser"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason}; {REQUIRE_ENV}=1 requires it", pytrace=False)
        pytest.skip(reason)
    assert bin_dir is not None
    data = tempfile.mkdtemp(prefix="litegate-pg-", dir="/tmp")
    shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", f"{bin_dir}/initdb", "-D", data, "-A", "trust",
         "-U", "postgres", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = PrivatePostgres(bin_dir, data, free_port())
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
