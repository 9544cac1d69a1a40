"""The on-disk layout of a napari-microns data folder, and atomic writes.

One place decides where every file lives::

    <datadir>/<version>/raw/<table>.parquet        downloaded CAVE tables
    <datadir>/<version>/raw/<table>.json           provenance sidecar
    <datadir>/<version>/raw/<table>.csv            microns_datacleaner layout (read as is)
    <datadir>/<version>/processed/units.parquet    merged units table
    <datadir>/<version>/processed/layers.parquet   cortical layer boundaries
    <datadir>/<version>/processed/summary.json     what the merge removed and why
    <datadir>/<version>/synapses/                  synapse downloads and the merged store
    <datadir>/<version>/morphology/                skeleton and mesh cache

Every write goes to a temporary file in the same folder and is renamed into
place, so an interrupted process never leaves a half-written file behind.
Writers that can race hold the folder's inter-process lock (:func:`write_lock`,
filelock); files carry checksums (Parquet page checksums and a SHA-256 kept in
a sidecar or index) that readers verify. File-system failures become one-line
:class:`~.errors.StorageError` messages.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import threading
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .errors import BusyError, DataError, MicronsError, StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    """Paths of one materialization version inside a data folder."""

    datadir: Path
    version: int

    def __post_init__(self):
        object.__setattr__(self, "datadir", Path(self.datadir).expanduser())

    @property
    def root(self) -> Path:
        return self.datadir / str(self.version)

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def processed_dir(self) -> Path:
        return self.root / "processed"

    @property
    def synapses_dir(self) -> Path:
        return self.root / "synapses"

    @property
    def morphology_dir(self) -> Path:
        return self.root / "morphology"

    def raw_table(self, table: str) -> Path:
        return self.raw_dir / f"{table}.parquet"

    def raw_sidecar(self, table: str) -> Path:
        return self.raw_dir / f"{table}.json"

    def raw_csv(self, table: str) -> Path:
        """Where microns_datacleaner keeps the same table."""
        return self.raw_dir / f"{table}.csv"

    def lock_file(self, part: str) -> Path:
        """The write lock of one part of the version folder (``raw``, ``processed``), kept out of it."""
        return self.root / ".locks" / f"{part}.lock"

    @property
    def units_path(self) -> Path:
        return self.processed_dir / "units.parquet"

    @property
    def layers_path(self) -> Path:
        return self.processed_dir / "layers.parquet"

    @property
    def summary_path(self) -> Path:
        return self.processed_dir / "summary.json"


_TMP_SUFFIX = ".tmp"


def _temp_name(path: Path) -> Path:
    """``.<name>.<pid>-<random>.tmp`` beside ``path``: the pid says whose it is."""
    return path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{_TMP_SUFFIX}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Remove the temporary files of dead processes in ``folder`` (never another live process's).

    Temporary files are named ``.<name>.<pid>-<random>.tmp``; a file whose pid is another
    live process belongs to a writer still at work and is left alone. Call it holding the
    folder's :func:`write_lock` (then this process's own leftovers are stale too).
    Returns how many were removed.
    """
    removed = 0
    for tmp in Path(folder).glob(f".*{_TMP_SUFFIX}"):
        owner = tmp.name[: -len(_TMP_SUFFIX)].rsplit(".", 1)[-1].split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and _pid_alive(int(owner)):
            continue  # another live process is writing it
        try:
            tmp.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def storage_error(exc: OSError, path: str | os.PathLike, doing: str = "writing") -> MicronsError:
    """A file-system failure as one line: permission, full disk, a file where a folder should be.

    ``doing`` is the gerund shown to the user: "writing", "reading", "creating", "locking".
    """
    if isinstance(exc, MicronsError):
        return exc
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "Disk quota" in text:
        return StorageError(f"no space left on the device {doing} {path}; nothing was half-written: "
                            "free some space and rerun")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or isinstance(exc, PermissionError):
        where = getattr(exc, "filename", None) or path
        return StorageError(f"permission denied {doing} {where}: the folder is read-only or belongs to "
                            "another user; choose a --datadir you can write to, or ask its owner")
    if code in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, (NotADirectoryError, FileExistsError)):
        return StorageError(f"{doing} {path} failed: a part of that path is a file, not a folder; "
                            "point --datadir at a folder")
    if code == errno.EISDIR or isinstance(exc, IsADirectoryError):
        return StorageError(f"{doing} {path} failed: it is a folder, not a file")
    return StorageError(f"{doing} {path} failed ({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})")


def make_dirs(folder: str | os.PathLike) -> Path:
    """``mkdir -p`` with file-system failures said in one line."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, folder, "creating") from None
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched. The file
    is created with mode 0666 less the umask (as ``open`` would), so a shared data folder
    stays readable by the people the umask says; file-system failures (permission, full
    disk) become one-line :class:`StorageError`.
    """
    path = Path(path)
    make_dirs(path.parent)
    tmp = _temp_name(path)
    try:
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise storage_error(exc, path) from None
        yield tmp
        try:
            with open(tmp, "rb+") as fh:  # data must be on disk before the rename
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise storage_error(exc, path) from None
    except OSError as exc:  # the writer's own I/O (a full disk, mostly)
        raise storage_error(exc, path) from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            log.warning("could not remove the temporary file %s", tmp)


def write_content_named(folder: str | os.PathLike, stem: str, suffix: str, write) -> tuple[Path, str, str]:
    """Write a file through ``write(tmp_path)`` and name it by its content:
    ``<folder>/<stem>-<sha256[:16]><suffix>``. Returns ``(path, sha256, block digests)``
    (see :func:`file_digests`).

    Files named so never change after they are written, so a reader holding an older
    index keeps reading consistent files while a writer adds new ones.
    """
    folder = make_dirs(folder)
    tmp = _temp_name(folder / f"{stem}{suffix}")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        digest, blocks = file_digests(tmp)
        final = folder / f"{stem}-{digest[:16]}{suffix}"
        os.replace(tmp, final)
        return final, digest, blocks
    except OSError as exc:
        raise storage_error(exc, folder / f"{stem}{suffix}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``df`` as CSV (no index; integer columns as exact integers), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def atomic_write_parquet(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> str:
    """Write ``df`` with page checksums; returns the file's SHA-256."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, write_page_checksum=True, **kwargs)
        digest = file_sha256(tmp)
    return digest


def read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} is corrupt ({exc}); delete it and rerun") from None


# -- checksums ------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    return digest.hexdigest()


#: a file's blocks, each with its own checksum, so a reader can verify just what it reads
BLOCK_BYTES = 1 << 18
BLOCK_DIGEST_CHARS = 16


def file_digests(path: str | os.PathLike) -> tuple[str, str]:
    """``(sha256, blocks)`` of a file from one read: ``blocks`` concatenates the first
    :data:`BLOCK_DIGEST_CHARS` hex digits of each :data:`BLOCK_BYTES` block's SHA-256."""
    whole, parts = hashlib.sha256(), []
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(BLOCK_BYTES), b""):
                whole.update(block)
                parts.append(hashlib.sha256(block).hexdigest()[:BLOCK_DIGEST_CHARS])
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    return whole.hexdigest(), "".join(parts)


class VerifiedBlocks:
    """Which blocks of one immutable file this process has checked against their digests
    (from :func:`file_digests`); :meth:`check` verifies a byte range, each block once."""

    def __init__(self, path: str | os.PathLike, blocks: str, size: int):
        self.path, self.blocks, self.size = Path(path), blocks, size
        self._done: set[int] = set()
        self._lock = threading.Lock()

    def check(self, start: int, stop: int) -> bool:
        """True when every block overlapping ``[start, stop)`` has its recorded digest."""
        n = len(self.blocks) // BLOCK_DIGEST_CHARS
        if n != -(-self.size // BLOCK_BYTES) or not 0 <= start <= stop <= self.size:
            return False
        wanted = [b for b in range(start // BLOCK_BYTES, -(-stop // BLOCK_BYTES)) if b not in self._done]
        if not wanted:
            return True
        with open(self.path, "rb") as fh:
            for b in wanted:
                fh.seek(b * BLOCK_BYTES)
                got = hashlib.sha256(fh.read(BLOCK_BYTES)).hexdigest()[:BLOCK_DIGEST_CHARS]
                if got != self.blocks[b * BLOCK_DIGEST_CHARS:(b + 1) * BLOCK_DIGEST_CHARS]:
                    return False
        with self._lock:
            self._done.update(wanted)
        return True

    def check_parquet_footer(self) -> bool:
        """The Parquet footer (schema, row groups, statistics) and its length are as written."""
        if self.size < 12 or not self.check(self.size - 8, self.size):
            return False
        with open(self.path, "rb") as fh:
            fh.seek(self.size - 8)
            footer = int.from_bytes(fh.read(4), "little")
        return self.check(max(0, self.size - 8 - footer), self.size)


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None, sha256: str | None = None,
                 what: str = "file", fix: str = "") -> pd.DataFrame:
    """A Parquet file as a DataFrame, verifying its pages' checksums (files written here carry
    them) and, with ``sha256``, the whole file's checksum, from one read of the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if sha256 is None:
        return pd.read_parquet(path, columns=columns, page_checksum_verification=True)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {path} is missing; {fix}") from None
    except PermissionError as exc:
        raise storage_error(exc, path, "reading") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(f"{what} {path} is corrupt (its checksum does not match); {fix}")
    available = pq.read_schema(pa.BufferReader(data)).names
    wanted = None if columns is None else [c for c in columns if c in set(available)]
    table = pq.read_table(pa.BufferReader(data), columns=wanted, page_checksum_verification=True)
    return table.to_pandas()


# -- locks ----------------------------------------------------------------------

#: seconds a writer waits for another process's lock before giving up (env: NAPARI_MICRONS_LOCK_TIMEOUT)
LOCK_TIMEOUT = float(os.environ.get("NAPARI_MICRONS_LOCK_TIMEOUT", "1800"))
LOCK_NAME = ".lock"


@contextlib.contextmanager
def write_lock(lock_file: str | os.PathLike, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold an inter-process write lock (filelock on ``lock_file``) while writing ``what``.

    Reentrant within a thread; exclusive between threads and processes. A second
    writer says once that it waits, then waits up to ``timeout`` seconds (default
    :data:`LOCK_TIMEOUT`; 0 = do not wait) and fails with a one-line :class:`BusyError`.
    """
    from filelock import FileLock, Timeout

    lock_file = Path(lock_file)
    make_dirs(lock_file.parent)
    lock = FileLock(str(lock_file), is_singleton=True)
    limit = LOCK_TIMEOUT if timeout is None else float(timeout)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if limit <= 0:
                raise
            log.warning("another napari-microns process is writing %s; waiting for it (up to %.0f s)", what, limit)
            lock.acquire(timeout=limit)
    except Timeout:
        waited = f"waited {limit:.0f} s" if limit > 0 else "did not wait"
        raise BusyError(f"another napari-microns process is writing {what} (lock {lock_file}; {waited}): "
                        "let it finish, then rerun") from None
    except OSError as exc:
        raise storage_error(exc, lock_file, "locking") from None
    try:
        yield
    finally:
        lock.release()
