"""Peak resident memory of a process and its children, read from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def status_kb(pid: int, field: str) -> int | None:
    """Return a ``/proc/<pid>/status`` field in kB (``VmHWM`` peak RSS, ``VmRSS`` current), None if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def children(pid: int) -> list[int]:
    """Return the direct children of a process (every thread's list), empty if it is gone."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text(encoding="ascii").split())
        except OSError:
            continue
    return sorted(set(found))


def command_name(pid: int) -> str:
    """The process's command line, shortened (for labelling figures)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)[:80]


class PeakTracker:
    """Remembers the highest VmHWM seen for every process of a tree (workers may be restarted)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peaks: dict[int, int] = {}
        self.names: dict[int, str] = {}

    def sample(self) -> None:
        """Read the peak RSS of the root and all its descendants now."""
        pending = [self.root]
        while pending:
            pid = pending.pop()
            peak = status_kb(pid, "VmHWM")
            if peak is None:
                continue
            self.peaks[pid] = max(peak, self.peaks.get(pid, 0))
            self.names.setdefault(pid, command_name(pid))
            pending.extend(children(pid))

    def report(self) -> list[tuple[int, str, float]]:
        """(pid, command, peak MB) for every process seen, the root first."""
        order = sorted(self.peaks, key=lambda pid: (pid != self.root, pid))
        return [(pid, self.names.get(pid, "?"), self.peaks[pid] / 1024) for pid in order]
