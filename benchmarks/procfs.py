"""CPU time, peak memory and per-core busy time from /proc (Linux only).

CPU seconds (utime + stime) are the noise-robust figure: they count the work a process did,
not how long it waited for a core another process held.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    return text[text.rindex(")") + 2 :].split()


def _tree(pid: int) -> list[int]:
    """`pid` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid`, its live descendants and its reaped children."""
    ticks = 0
    for member in _tree(pid):
        fields = _stat_fields(member)
        if fields is not None:
            # Fields 14-17 of /proc/<pid>/stat: utime stime cutime cstime (0-based 11-14 here).
            ticks += int(fields[11]) + int(fields[12])
            if member == pid:
                ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def reset_peak_rss(pid: int) -> None:
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            Path(f"/proc/{member}/clear_refs").write_text("5")  # 5: reset the peak RSS


def peak_rss_mib(pid: int) -> float:
    total_kib = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024


def core_busy_seconds(core: int) -> float:
    """All time `core` was not idle: user, nice, system, irq, softirq, and steal (time the
    hypervisor gave to another guest). Minus our gateway's CPU, this is the noise."""
    prefix = f"cpu{core} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            user, nice, system, _idle, _iowait, irq, softirq, steal = line.split()[1:9]
            return sum(int(v) for v in (user, nice, system, irq, softirq, steal)) / CLOCK_TICKS
    return 0.0
