"""Reads the configured policy files and notices when they change (polling: no extra dependency).

A check compares each file's modification time, size and inode with the previous check; when
they moved (or a file changed in the last few seconds), it reads the files and hashes their
bytes. Contents count as changed only when the hash differs from the contents last acted on,
and they are handed over only once the next check finds the same contents, so a file caught
half-written by an editor is never loaded.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from policies.issues import PolicyIssue

#: Files modified this recently (ns) are read again on every check, whatever their stamps say.
RECENT_NS = 5_000_000_000

#: What a check compares per file: (mtime in ns, size, inode), or None when the file cannot be read.
FileStamp = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class PolicyFiles:
    """The bytes of the policy files at one moment, with their hash, author and reading problems."""

    sources: tuple[tuple[bytes, Path], ...]
    content_hash: str
    author: str | None
    unreadable: tuple[PolicyIssue, ...] = ()

    @property
    def version(self) -> str:
        """The policy version these contents would have (the loader's: the hash's first 12 digits)."""
        return self.content_hash[:12]

    @property
    def source(self) -> str:
        """The files, in order (`base.yaml + overrides.yaml`)."""
        return " + ".join(str(path) for _data, path in self.sources) or "<no policy file>"


def content_hash(contents: Sequence[bytes]) -> str:
    """Return the sha256 hex of one file's bytes, or of the files' digests in order (as the loader)."""
    if len(contents) == 1:
        return hashlib.sha256(contents[0]).hexdigest()
    return hashlib.sha256(b"".join(hashlib.sha256(data).digest() for data in contents)).hexdigest()


def file_owner(path: Path) -> str | None:
    """Return the name of the OS user owning `path` (its uid when unnamed; None where unknown)."""
    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    try:
        import pwd
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def stamps(paths: Sequence[Path]) -> tuple[FileStamp, ...]:
    """Return each file's (mtime ns, size, inode), None for a file that cannot be stat'ed."""
    found: list[FileStamp] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            found.append(None)
        else:
            found.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(found)


def read_policy_files(paths: Sequence[Path]) -> PolicyFiles:
    """Read every file's bytes; a file that cannot be read becomes an issue (and part of the hash)."""
    sources: list[tuple[bytes, Path]] = []
    issues: list[PolicyIssue] = []
    hashed: list[bytes] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            issues.append(PolicyIssue(str(path), 1, 1, "(file)", f"cannot read: {exc.strerror}"))
            hashed.append(f"unreadable:{path}:{exc.strerror}".encode())
            continue
        sources.append((data, path))
        hashed.append(data)
    return PolicyFiles(tuple(sources), content_hash(hashed), _author(paths), tuple(issues))


def _author(paths: Sequence[Path]) -> str | None:
    """The owner of the most recently modified file: whoever changed the policy last, as far as known."""
    dated: list[tuple[int, Path]] = []
    for path in paths:
        try:
            dated.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    return file_owner(max(dated)[1]) if dated else None


class PolicyFileWatcher:
    """Hands over the policy files' contents once after each change, when they have settled."""

    def __init__(self, paths: Sequence[Path], current: PolicyFiles, current_stamps: tuple[FileStamp, ...]):
        self._paths = tuple(paths)
        self._stamps = current_stamps
        self._settled_hash = current.content_hash
        self._candidate: PolicyFiles | None = None

    def poll(self) -> PolicyFiles | None:
        """Check the files once; return their contents when they changed and then held still for a check."""
        now_stamps = stamps(self._paths)
        moved = now_stamps != self._stamps or _recent(now_stamps)
        self._stamps = now_stamps
        if moved:
            files = read_policy_files(self._paths)
            if files.content_hash == self._settled_hash:
                self._candidate = None
                return None
            if self._candidate is None or files.content_hash != self._candidate.content_hash:
                self._candidate = files  # new contents: hand them over if they hold still
                return None
        if self._candidate is None:
            return None
        files, self._candidate = self._candidate, None
        self._settled_hash = files.content_hash
        return files


def _recent(found: Sequence[FileStamp]) -> bool:
    """Whether a file changed so recently that a same-size write in the same clock tick could hide.

    File times are kept in coarse ticks, so two writes of equal size moments apart can leave the
    same stamp; files modified within `RECENT_NS` are read again on every check (as git does).
    """
    newest = max((stamp[0] for stamp in found if stamp is not None), default=0)
    return newest >= time.time_ns() - RECENT_NS
