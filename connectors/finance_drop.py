"""Delivery of settlement files to finance: a local folder by default, SFTP in production.

``FinanceDrop.deliver(local_path, remote_name)`` puts one file under its final name so that finance
never sees a partial or changed file there (DESIGN §3, issue 12):

1. the final name already holding the same bytes (SHA-256) → a receipt without upload (a re-run is
   idempotent); different bytes → :class:`DeliveryConflict`, nothing is overwritten, ever;
2. the bytes go to ``.<name>.part`` in the same folder (created or truncated: a previous killed upload
   is simply written over), then its size is checked with ``stat`` and its SHA-256 by reading it back;
3. the part file is renamed to the final name in one step: ``posix-rename@openssh.com`` where the
   server offers it (atomic on the server's file system), else the SFTP v3 ``rename`` (which refuses an
   existing target); the final name is checked again just before, so only a writer racing in the
   last milliseconds could be replaced, and the ledger allows one writer per file.

Errors follow DESIGN §3.5: a connection lost or refused, or a part file that does not read back as
sent, is retried here (:mod:`connectors.retry`, the whole delivery from step 1, which is safe because
each step is), then raised as :class:`TransientError`; a server failure status (disk full: SFTP v3
can only say ``SSH_FX_FAILURE`` "No space left on device") is a ``TransientError`` at once, the part
file removed when the connection still allows; a refused rename or permission is
:class:`DeliveryRefused`, rejected credentials or host key :class:`~connectors.errors.AuthError`.

The SFTP transport is ``paramiko``, the library under the SFTP provider's ``SFTPHook`` (pinned with
the provider), used directly for the reason :mod:`connectors.mail` gives for SMTP: the hook finds its
Connection through Airflow, which ``connectors`` must not import. The Connection ``finance_drop`` is
read as the provider reads an ``sftp`` Connection (:meth:`SftpConfig.from_connection`). A flow that
prefers the hook can hand its client over: ``FinanceDrop(SftpStore.from_client(hook.get_conn(), dir))``.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import errno
import hashlib
import io
import logging
import os
import posixpath
import re
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import paramiko

from connectors.base import ConnectionLike, extra_bool, extra_retry
from connectors.errors import AuthError, BusinessError, PermanentError, RetryableError, TransientError
from connectors.retry import RetryPolicy, call_with_retries

log = logging.getLogger(__name__)

SYSTEM = "finance_drop"
CHUNK = 1 << 16
# Where the settlement files go when the Connection is absent, under the settings' output folder.
DEFAULT_OUTBOX = Path("settlement") / "outbox"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def default_outbox(output_dir: Path) -> Path:
    """The local drop folder of a hub whose ``finance_drop`` Connection is absent."""
    return output_dir / DEFAULT_OUTBOX


def part_name(remote_name: str) -> str:
    """The temporary name a file is uploaded under before its rename: ``.<name>.part``."""
    return f".{remote_name}.part"


def sha256_of(source: BinaryIO) -> tuple[int, str]:
    """Size and SHA-256 (hex) of everything ``source`` still has to read."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: source.read(CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


@dataclass(frozen=True)
class DeliveryReceipt:
    """A file under its final name: where, how many bytes, their SHA-256, and whether this call
    uploaded it (False: it was already there, identical)."""

    remote_path: str
    size: int
    sha256: str
    uploaded: bool = True


class DeliveryConflict(BusinessError):
    """The final name already holds different bytes; it is never overwritten (a new version is a new name)."""


class DeliveryRefused(PermanentError):
    """The drop refused the delivery: permission denied, rename refused, the folder missing."""


# ---------------------------------------------------------------------------------------------------
# Stores: the few file operations a delivery needs, on a local folder or an SFTP server
# ---------------------------------------------------------------------------------------------------


class DropStore(Protocol):
    """A flat folder of files. Operations raise ``OSError``: ``ConnectionError`` when the connection is
    lost, ``PermissionError`` when refused, ``FileNotFoundError`` for a missing file or folder."""

    location: str  # for messages: "sftp://host:port/dir" or the folder path

    def path_of(self, name: str) -> str: ...

    def size(self, name: str) -> int | None:
        """The size of a regular file, None when there is none by that name."""

    def read(self, name: str) -> Any:
        """A context manager yielding the file opened for binary reading."""

    def write(self, name: str, source: BinaryIO) -> None:
        """Create or truncate ``name`` and copy ``source`` into it."""

    def rename(self, old: str, new: str) -> None:
        """Rename in one step on the server (posix-rename where offered, else rename)."""

    def remove(self, name: str) -> None: ...

    def names(self) -> builtins.list[str]:
        """Names of the regular files in the folder."""

    def reset(self) -> None:
        """Forget a broken connection: the next operation connects again."""

    def distrust_writes(self) -> None:
        """A written file did not read back as sent: write so that every error is seen from now on."""

    def close(self) -> None: ...


class LocalFolderStore:
    """A folder on this machine (created on first write); renames are ``os.replace`` after an fsync."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)

    def path_of(self, name: str) -> str:
        return str(self.folder / name)

    def size(self, name: str) -> int | None:
        try:
            st = (self.folder / name).stat()
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    @contextmanager
    def read(self, name: str) -> Iterator[BinaryIO]:
        with (self.folder / name).open("rb") as handle:
            yield handle

    def write(self, name: str, source: BinaryIO) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / name).open("wb") as target:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                target.write(chunk)
            target.flush()
            os.fsync(target.fileno())

    def rename(self, old: str, new: str) -> None:
        os.replace(self.folder / old, self.folder / new)
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename itself survives a crash
        finally:
            os.close(fd)

    def remove(self, name: str) -> None:
        (self.folder / name).unlink()

    def names(self) -> builtins.list[str]:
        if not self.folder.is_dir():
            return []
        return [p.name for p in self.folder.iterdir() if p.is_file()]

    def reset(self) -> None:
        pass

    def distrust_writes(self) -> None:
        pass  # every local write error is raised already

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SftpConfig:
    """How to reach the SFTP drop: an Airflow Connection of type ``sftp`` (``finance_drop``)."""

    host: str
    remote_dir: str
    port: int = 22
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # OpenSSH/PEM private-key text
    key_file: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    host_key: str | None = None  # "ssh-ed25519 AAAA…": the server must present exactly this key
    no_host_key_check: bool = False  # accept any host key (the sandbox on loopback only)
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=3, base=1.0, cap=10.0))

    @classmethod
    def from_connection(cls, conn: ConnectionLike) -> SftpConfig:
        """From an ``sftp`` Connection with the SSH/SFTP providers' extras: ``private_key``, ``key_file``,
        ``private_key_passphrase``, ``host_key``, ``no_host_key_check``, ``conn_timeout``; plus
        ``remote_dir`` (required: the folder finance reads) and the retry extras of the other connectors
        (``max_attempts``, ``backoff_base``, ``backoff_cap``).

        Unlike the provider, host keys are checked unless ``no_host_key_check`` is true: against
        ``host_key`` when given, else the system's known_hosts.
        """
        extra = conn.extra_dejson
        host = (conn.host or "").strip()
        if not host:
            raise ValueError("the finance_drop connection has no host")
        remote_dir = str(extra.get("remote_dir") or "").strip()
        if not remote_dir.startswith("/"):
            raise ValueError("the finance_drop connection needs an absolute remote_dir extra (the drop folder)")
        if not (conn.password or extra.get("private_key") or extra.get("key_file")):
            raise ValueError("the finance_drop connection has neither a password nor a private key")
        port = getattr(conn, "port", None)
        default = cls.__dataclass_fields__["retry"].default_factory()  # type: ignore[misc]
        retry = extra_retry({"max_attempts": default.max_attempts, "backoff_base": default.base, **extra})
        return cls(
            host=host,
            port=int(port) if port else 22,
            user=conn.login or None,
            password=conn.password or None,
            private_key=extra.get("private_key") or None,
            key_file=extra.get("key_file") or None,
            passphrase=extra.get("private_key_passphrase") or extra.get("passphrase") or None,
            host_key=extra.get("host_key") or None,
            no_host_key_check=extra_bool(extra, "no_host_key_check", False),
            timeout=float(extra.get("conn_timeout") or extra.get("timeout") or 30.0),
            remote_dir=posixpath.normpath(remote_dir),
            retry=retry,
        )


def _private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError):
            continue
    raise AuthError(SYSTEM, "the private_key extra is not an Ed25519, ECDSA or RSA private key paramiko can read")


def _host_key(text: str) -> paramiko.PKey:
    parts = text.split()
    if len(parts) < 2:
        raise ValueError('host_key must read "<type> <base64>", e.g. "ssh-ed25519 AAAA…"')
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (paramiko.SSHException, ValueError, binascii.Error) as exc:
        raise ValueError(f"host_key is not a public key paramiko can read: {exc}") from exc


def open_sftp(config: SftpConfig) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
    """An authenticated SSH connection and its SFTP session, or ``ConnectionError``/``AuthError``."""
    client = paramiko.SSHClient()
    if config.host_key:
        entry = config.host if config.port == 22 else f"[{config.host}]:{config.port}"
        key = _host_key(config.host_key)
        client.get_host_keys().add(entry, key.get_name(), key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    elif config.no_host_key_check:
        # Documented opt-out (extra no_host_key_check), for the sandbox on loopback.
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    else:
        client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    pkey = _private_key(config.private_key, config.passphrase) if config.private_key else None
    where = f"{config.host}:{config.port}"
    try:
        client.connect(
            config.host,
            port=config.port,
            username=config.user,
            password=config.password,
            pkey=pkey,
            key_filename=config.key_file,
            passphrase=config.passphrase,
            timeout=config.timeout,
            banner_timeout=config.timeout,
            auth_timeout=config.timeout,
            look_for_keys=False,
            allow_agent=False,
        )
        sftp = client.open_sftp()
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise AuthError(SYSTEM, f"{where} presented a host key other than the expected one", code="host_key") from exc
    except paramiko.AuthenticationException as exc:
        client.close()
        raise AuthError(SYSTEM, f"{where} rejected the credentials: {exc}", code="auth") from exc
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise AuthError(SYSTEM, f"{where}: unknown host key ({exc})", code="host_key") from exc
        raise ConnectionError(f"{where}: {exc}") from exc
    except (OSError, EOFError) as exc:  # refused, unreachable, DNS (gaierror), timeout
        client.close()
        raise ConnectionError(f"{where}: {exc}") from exc
    sftp.get_channel().settimeout(config.timeout)
    return client, sftp


class SftpStore:
    """The drop folder on an SFTP server, through a paramiko ``SFTPClient``.

    Built from a :class:`SftpConfig` it connects on first use and again after :meth:`reset`; built
    :meth:`from_client` (the SFTP provider's hook) it uses that client and never reconnects.
    """

    def __init__(self, config: SftpConfig) -> None:
        self.config = config
        self.remote_dir = config.remote_dir
        self.location = f"sftp://{config.host}:{config.port}{config.remote_dir}"
        self._connect: Callable[[], tuple[Any, paramiko.SFTPClient]] | None = lambda: open_sftp(config)
        self._ssh: Any = None
        self._sftp: paramiko.SFTPClient | None = None
        self._posix_rename = True
        self.pipelined = True

    @classmethod
    def from_client(cls, client: paramiko.SFTPClient, remote_dir: str) -> SftpStore:
        store = cls.__new__(cls)
        store.config = None  # type: ignore[assignment]
        store.remote_dir = posixpath.normpath(remote_dir)
        store.location = f"sftp:{store.remote_dir}"
        store._connect = None
        store._ssh = None
        store._sftp = client
        store._posix_rename = True
        store.pipelined = True
        return store

    # -- connection ---------------------------------------------------------------------------------
    def _client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            if self._connect is None:
                raise ConnectionError(f"{self.location}: the SFTP session handed over is closed")
            self._ssh, self._sftp = self._connect()
            try:
                if not stat.S_ISDIR(self._sftp.stat(self.remote_dir).st_mode or 0):
                    raise NotADirectoryError(errno.ENOTDIR, f"{self.remote_dir} is not a folder")
            except FileNotFoundError as exc:
                raise FileNotFoundError(errno.ENOENT, f"the drop folder {self.remote_dir} does not exist") from exc
        return self._sftp

    @contextmanager
    def _errors(self) -> Iterator[paramiko.SFTPClient]:
        """paramiko's ways of saying "the connection is gone" as ``ConnectionError``."""
        sftp = self._client()
        try:
            yield sftp
        except (TimeoutError, paramiko.SSHException, EOFError) as exc:
            raise ConnectionError(f"{self.location}: connection lost: {exc or type(exc).__name__}") from exc
        except OSError as exc:
            transport = sftp.get_channel().get_transport() if sftp.get_channel() else None
            if isinstance(exc, ConnectionError) or transport is None or not transport.is_active():
                raise ConnectionError(f"{self.location}: connection lost: {exc}") from exc
            raise

    def distrust_writes(self) -> None:
        self.pipelined = False

    def reset(self) -> None:
        if self._connect is None:  # a handed-over client: keep it, the caller owns it
            return
        self.close()

    def close(self) -> None:
        with suppress(Exception):
            if self._sftp is not None:
                self._sftp.close()
        with suppress(Exception):
            if self._ssh is not None:
                self._ssh.close()
        self._sftp = self._ssh = None

    # -- operations ---------------------------------------------------------------------------------
    def path_of(self, name: str) -> str:
        return posixpath.join(self.remote_dir, name)

    def size(self, name: str) -> int | None:
        with self._errors() as sftp:
            try:
                attrs = sftp.stat(self.path_of(name))
            except FileNotFoundError:
                return None
        return attrs.st_size if stat.S_ISREG(attrs.st_mode or 0) else None

    @contextmanager
    def read(self, name: str) -> Iterator[BinaryIO]:
        with self._errors() as sftp, sftp.open(self.path_of(name), "rb") as handle:
            handle.prefetch()
            yield handle  # type: ignore[misc]

    def write(self, name: str, source: BinaryIO) -> None:
        with self._errors() as sftp, sftp.open(self.path_of(name), "wb") as target:
            # Pipelined writes do not wait for each status, but paramiko drops the statuses it collects
            # (a write refused for a full disk goes unseen): the read-back catches that, and from then
            # on (distrust_writes) each write waits for its status, so the server's reason is raised.
            target.set_pipelined(self.pipelined)
            for chunk in iter(lambda: source.read(CHUNK), b""):
                target.write(chunk)

    def rename(self, old: str, new: str) -> None:
        with self._errors() as sftp:
            if self._posix_rename:
                try:
                    sftp.posix_rename(self.path_of(old), self.path_of(new))
                    return
                except OSError as exc:
                    # paramiko reports SSH_FX_OP_UNSUPPORTED (no such extension) as a bare IOError(text)
                    if exc.errno is not None or "support" not in str(exc).lower():
                        raise
                    log.info("%s offers no posix-rename; using rename", self.location)
                    self._posix_rename = False
            sftp.rename(self.path_of(old), self.path_of(new))

    def remove(self, name: str) -> None:
        with self._errors() as sftp:
            sftp.remove(self.path_of(name))

    def names(self) -> builtins.list[str]:
        with self._errors() as sftp:
            return [a.filename for a in sftp.listdir_attr(self.remote_dir) if stat.S_ISREG(a.st_mode or 0)]


# ---------------------------------------------------------------------------------------------------
# The drop
# ---------------------------------------------------------------------------------------------------


class FinanceDrop:
    """Where settlement files are delivered. ``with FinanceDrop.from_connection(conn, outbox) as drop:``"""

    def __init__(
        self, store: DropStore, *, retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.store = store
        config = getattr(store, "config", None)
        self.retry = retry or (config.retry if isinstance(config, SftpConfig) else RetryPolicy(max_attempts=1))
        self._sleep = sleep

    @classmethod
    def local(cls, folder: Path) -> FinanceDrop:
        return cls(LocalFolderStore(folder))

    @classmethod
    def sftp(cls, config: SftpConfig) -> FinanceDrop:
        return cls(SftpStore(config), retry=config.retry)

    @classmethod
    def from_connection(cls, conn: ConnectionLike | None, default_folder: Path) -> FinanceDrop:
        """The ``finance_drop`` Connection: ``sftp`` → the SFTP server; ``fs`` (extra ``path``) → that
        folder; absent (None) → ``default_folder`` (:func:`default_outbox` of the settings' output dir)."""
        if conn is None:
            return cls.local(default_folder)
        conn_type = getattr(conn, "conn_type", None)
        if conn_type in ("sftp", "ssh"):
            return cls.sftp(SftpConfig.from_connection(conn))
        if conn_type == "fs":
            path = conn.extra_dejson.get("path")
            return cls.local(Path(path) if path else default_folder)
        raise ValueError(f"the finance_drop connection has type {conn_type!r}; expected sftp (or fs for a folder)")

    def __enter__(self) -> FinanceDrop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # -- the API ------------------------------------------------------------------------------------
    def deliver(self, local_path: Path, remote_name: str) -> DeliveryReceipt:
        """Put ``local_path`` under ``remote_name`` in the drop, never partially, never over other bytes."""
        _check_name(remote_name)
        with Path(local_path).open("rb") as source:
            size, digest = sha256_of(source)
        what = f"delivering {remote_name} to {self.store.location}"
        return call_with_retries(
            self.retry,
            lambda: self._guarded(what, lambda: self._deliver_once(Path(local_path), remote_name, size, digest)),
            system=SYSTEM,
            what=what,
            sleep=self._sleep,
        )

    def exists(self, remote_name: str) -> str | None:
        """The SHA-256 of the file under ``remote_name``, None when there is none."""
        _check_name(remote_name)
        return call_with_retries(
            self.retry,
            lambda: self._guarded(f"reading {remote_name}", lambda: self._sha256(remote_name)),
            system=SYSTEM,
            what=f"reading {remote_name} in {self.store.location}",
            sleep=self._sleep,
        )

    # -- one attempt --------------------------------------------------------------------------------
    def _sha256(self, name: str) -> str | None:
        if self.store.size(name) is None:
            return None
        with self.store.read(name) as handle:
            return sha256_of(handle)[1]

    def _already_there(self, name: str, size: int, digest: str) -> DeliveryReceipt | None:
        present = self._sha256(name)
        if present is None:
            return None
        if present != digest:
            raise DeliveryConflict(
                SYSTEM,
                f"{self.store.path_of(name)} already exists with other content (sha256 {present[:12]}…, "
                f"this file {digest[:12]}…); it is never overwritten: deliver a new version under a new name",
                code="exists_different",
                record_key=name,
            )
        log.info("%s is already delivered (same sha256): nothing uploaded", self.store.path_of(name))
        return DeliveryReceipt(self.store.path_of(name), size, digest, uploaded=False)

    def _deliver_once(self, local_path: Path, name: str, size: int, digest: str) -> DeliveryReceipt:
        if done := self._already_there(name, size, digest):
            return done
        part = part_name(name)
        try:
            with local_path.open("rb") as source:
                self.store.write(part, source)
            written = self.store.size(part)
            if written != size:
                self.store.distrust_writes()
                raise RetryableError(
                    f"{part} has {written} bytes on the server, {size} were sent", code="size_mismatch"
                )
            with self.store.read(part) as handle:
                back = sha256_of(handle)[1]
            if back != digest:
                self.store.distrust_writes()
                raise RetryableError(f"{part} reads back with another sha256 than was sent", code="checksum_mismatch")
            if done := self._already_there(name, size, digest):  # arrived meanwhile
                self._remove_quietly(part)
                return done
            self.store.rename(part, name)
        except ConnectionError:
            raise  # the part file stays; the next attempt writes over it
        except BaseException:
            self._remove_quietly(part)
            raise
        log.info("delivered %s (%d bytes, sha256 %s)", self.store.path_of(name), size, digest)
        return DeliveryReceipt(self.store.path_of(name), size, digest, uploaded=True)

    def _remove_quietly(self, name: str) -> None:
        with suppress(Exception):
            self.store.remove(name)

    def _guarded(self, what: str, step: Callable[[], Any]) -> Any:
        """One attempt, its ``OSError`` classified: lost connection → retried, refusal → permanent,
        anything else the server reports → transient without a retry here."""
        try:
            return step()
        except (ConnectionError, TimeoutError) as exc:
            self.store.reset()
            raise RetryableError(f"connection lost or refused: {exc}", code="connection_lost") from exc
        except PermissionError as exc:
            raise DeliveryRefused(SYSTEM, f"{what}: refused by the server: {exc}", code="permission_denied") from exc
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise DeliveryRefused(SYSTEM, f"{what}: {exc}", code="not_found") from exc
        except OSError as exc:
            full = exc.errno == errno.ENOSPC or "no space" in str(exc).lower()
            raise TransientError(
                SYSTEM, f"{what}: {exc.strerror or exc}", code="disk_full" if full else "io_error"
            ) from exc

    # Last, so that ``list`` in the annotations above is still the built-in.
    def list(self) -> builtins.list[str]:
        """The files finance sees in the drop (sorted; part files of uploads under way left out)."""
        names = call_with_retries(
            self.retry,
            lambda: self._guarded("listing", self.store.names),
            system=SYSTEM,
            what=f"listing {self.store.location}",
            sleep=self._sleep,
        )
        return sorted(n for n in names if not n.startswith("."))


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise ValueError(f"{name!r} is not a plain file name (letters, digits, '.', '_', '-'; no folders)")
