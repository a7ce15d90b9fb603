"""Writing result files so that readers never see half of one."""

from __future__ import annotations

import os
import secrets

__all__ = ["atomic_write_bytes"]

_TEMP_ATTEMPTS = 100


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same folder (``.<name>.<random>.tmp``), which is
    flushed, fsynced and then moved over ``path`` with ``os.replace``. A reader (or a run that is
    interrupted, or that fails half-way) sees the old file or the new one, never half of one; on
    any error the temporary file is removed and ``path`` is left as it was.

    The file gets the permissions an ordinary ``open(path, "wb")`` gives a new file:
    ``0o666 & ~umask`` (so ``0o644`` under the usual umask ``0o022``), not the ``0o600`` of
    ``tempfile.mkstemp``. The temporary file is created with ``os.open(..., 0o666)`` and the kernel
    applies the current umask (and any default ACL of the folder) itself, exactly as for
    ``open()``; the umask is never read or changed, so other threads are not affected. An existing
    file at ``path`` is replaced, mode included.

    ``data`` must be bytes-like (``bytes``, ``bytearray``, ``memoryview``); anything else raises
    TypeError before ``path`` is touched.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes-like, got {type(data).__name__}")
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(_TEMP_ATTEMPTS):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name next to {path} after {_TEMP_ATTEMPTS} attempts")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
