"""Safe output: files and whole directories are written to a temporary sibling and renamed into place, so a killed
process leaves either the old complete output or the new complete output, never a mix.

A directory netslim writes carries a marker file (``.netslim-output``: the run id, the process, the time). An
existing directory is only ever replaced when it carries that marker (or is empty): a user's directory of other
files, or a plain file, at an output path is refused with an :class:`~netslim.errors.OutputError`, never deleted.
A lock beside the output stops two runs from writing it at once; temporary siblings left by killed runs are
removed, and an output a kill left half-swapped is restored, by the next run. Outputs honour the umask.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from netslim.errors import OutputError

MARKER = ".netslim-output"
RUN_ID = uuid.uuid4().hex[:12]  # one per process: every output of one run carries it


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _chmod(path: Path, mode: int) -> None:
    with suppress(OSError):
        os.chmod(path, mode & ~_umask())


def write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file name to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write here ({exc.strerror}); choose a writable location") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _chmod(Path(tmp), 0o666)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def owned(path: Path) -> bool:
    """Whether ``path`` is a directory netslim wrote (it carries the marker)."""
    return (path / MARKER).is_file()


def check_output_dir(path: str | Path) -> Path:
    """Refuse, before any work is done, an output directory netslim may not replace: a plain file, a directory of
    files netslim did not write, or a location that is not writable. Returns the path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, not a directory; give a new directory for the output")
    if path.is_dir() and not owned(path):
        others = sorted(p.name for p in path.iterdir())
        if others:
            listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise OutputError(
                f"{path}: holds files netslim did not write ({listed}); netslim only replaces its own outputs - give "
                "a new or empty directory"
            )
    return check_writable(path)


def check_writable(path: str | Path) -> Path:
    """Refuse a path whose nearest existing directory this process cannot write into."""
    path = Path(path)
    ancestor = path if path.is_dir() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise OutputError(f"{path}: {ancestor} is a file, so nothing can be written below it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: {ancestor} is not writable; choose another output location")
    return path


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write here ({exc.strerror}); choose a writable location") from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise OutputError(
                    f"{path.name.removeprefix('.').removesuffix('.lock')}: another netslim run is writing this output "
                    "right now; wait for it or choose another directory"
                ) from None
            raise
        yield
    finally:
        handle.close()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(path: Path) -> None:
    """Remove temporary siblings of ``path`` left by killed runs, and restore an output a kill left half-swapped
    (the old complete output is put back)."""
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.is_dir():
        old.rename(path)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)
    for sibling in path.parent.glob(f".{path.name}.tmp-*"):
        parts = sibling.name.split("-")
        if len(parts) >= 3 and parts[-2].isdigit() and not pid_alive(int(parts[-2])):
            shutil.rmtree(sibling, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is unavailable."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextmanager
def directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` as a whole when the block succeeds. ``path`` must be new,
    empty, or an earlier netslim output (see :func:`check_output_dir`)."""
    path = Path(path)
    check_output_dir(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock(path.parent / f".{path.name}.lock"):
        _clean_stale(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            yield tmp
            marker = {"run_id": RUN_ID, "pid": os.getpid(), "time": time.time(), "writer": "netslim"}
            (tmp / MARKER).write_text(json.dumps(marker) + "\n")
            for item in [tmp, *tmp.rglob("*")]:
                _chmod(item, 0o777 if item.is_dir() else 0o666)
            if path.exists():
                if _exchange(tmp, path):  # one atomic step: the old output now sits at tmp
                    shutil.rmtree(tmp, ignore_errors=True)
                else:  # no renameat2 here: two renames, and a kill between them is undone by the next run
                    old = path.with_name(f".{path.name}.old")
                    path.rename(old)
                    tmp.rename(path)
                    shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
