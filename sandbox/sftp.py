"""SFTP server (SSH File Transfer Protocol, version 3 as OpenSSH speaks it) for the finance drop.

Built on the maintained ``asyncssh`` package's SSH and SFTP server. Like the SMTP server
(:mod:`sandbox.smtp`) it runs on uvicorn's event loop beside the HTTP emulators, on its own port of the
same host: the files, the fault settings and the call log are shared with the control API without
locks, and the SIGTERM that stops uvicorn stops it too.

It behaves as a finance team's SFTP drop does:

- Password or public-key authentication for one user (``hub-finance``); the credentials and both
  keys (Ed25519) are derived from the seed, so a given seed always yields the same ready line. The
  host key is printed in the ready line (``host_key``), the client key as OpenSSH private-key text
  (``private_key``, what the SFTP provider's ``private_key`` extra takes).
  The root folder is not in the ready line (it is not a credential); ``/_sandbox/sftp/files`` names it.
- A chroot-like root folder (``--sftp-root``, else a temporary folder removed on exit): a client sees
  ``/`` as that folder and cannot leave it. ``/inbox`` exists from the start (``remote_dir``).
- No shell, no exec, no SCP: the SFTP subsystem only.
- ``rename`` refuses an existing target (the SFTP v3 rule); ``posix-rename@openssh.com`` replaces it.

Faults, set through ``POST /_sandbox/sftp/faults`` (and cleared by ``DELETE /_sandbox/faults`` with the
others; the generic settings of ``/_sandbox/faults`` do not apply to SFTP), each firing ``times`` times
(default 1; ``null`` until cleared):

- ``kill_upload_after_bytes: N`` - the next upload that goes past N bytes gets its first N bytes
  written, then the connection is dropped without a reply (a "killed upload");
- ``disk_full_after_bytes: N`` - an upload past N bytes keeps N bytes and every later write of that
  upload is answered ``SSH_FX_FAILURE "No space left on device"`` (what SFTP v3 can say about ENOSPC;
  the disk stays full for the rest of the upload, ``times`` counts uploads);
- ``refuse_rename: true`` - ``rename`` and ``posix-rename`` answer ``SSH_FX_PERMISSION_DENIED``;
- ``posix_rename: false`` - the server answers ``posix-rename`` with ``SSH_FX_OP_UNSUPPORTED``, as a
  server without the OpenSSH extension does (not counted: it lasts until cleared).

``GET /_sandbox/sftp/files`` lists every file under the root (``.part`` files included) with its size
and SHA-256; ``DELETE`` empties the root. The call log gets one entry per open, rename, remove and
fault (``system`` = ``sftp``, ``method`` = the SFTP operation, ``path`` = the path the client sees).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import shutil
import socket
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import asyncssh
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.clock import iso_z
from sandbox.faults import FaultConfig, FaultKind, FaultState
from sandbox.system import EmulatedSystem, SandboxContext

log = logging.getLogger("sandbox.sftp")

USER = "hub-finance"
REMOTE_DIR = "/inbox"
NO_SPACE = "No space left on device"
# asyncssh logs every connection and channel at INFO; the sandbox log keeps warnings only.
logging.getLogger("asyncssh").setLevel(logging.WARNING)


def _secret(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"{seed}:sftp:{label}".encode()).digest()


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def seeded_key_text(seed: int, label: str) -> str:
    """An Ed25519 private key derived from the seed, as OpenSSH private-key text (what paramiko and the
    SSH provider's ``private_key`` extra read). Written here rather than by a library, whose "check
    int" is random: the same seed gives the same text, so the ready line follows from the seed."""
    private = Ed25519PrivateKey.from_private_bytes(_secret(seed, label))
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    blob = _string(b"ssh-ed25519") + _string(public)
    check = _secret(seed, f"{label}:check")[:4]
    section = check + check + blob + _string(raw + public) + _string(b"")
    section += bytes(range(1, 1 + (-len(section) % 8)))
    body = b"openssh-key-v1\0" + _string(b"none") + _string(b"none") + _string(b"") + struct.pack(">I", 1)
    encoded = base64.b64encode(body + _string(blob) + _string(section)).decode()
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""])


def seeded_key(seed: int, label: str) -> asyncssh.SSHKey:
    """An Ed25519 key derived from the seed: the same seed gives the same key on every start."""
    return asyncssh.import_private_key(seeded_key_text(seed, label))


class SftpFaultError(ValueError):
    """A fault setting that is not shaped as documented."""


class SftpFaults:
    """The SFTP-specific fault settings and how many more times each fires."""

    COUNTED = ("kill_upload_after_bytes", "disk_full_after_bytes", "refuse_rename")

    def __init__(self) -> None:
        self.kill_upload_after_bytes: int | None = None
        self.disk_full_after_bytes: int | None = None
        self.refuse_rename = False
        self.posix_rename = True
        self.remaining: dict[str, int | None] = {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "kill_upload_after_bytes": self.kill_upload_after_bytes,
            "disk_full_after_bytes": self.disk_full_after_bytes,
            "refuse_rename": self.refuse_rename,
            "posix_rename": self.posix_rename,
            "remaining": dict(self.remaining),
        }

    def apply(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise SftpFaultError("a fault setting must be a JSON object")
        unknown = set(body) - {*self.COUNTED, "posix_rename", "times"}
        if unknown:
            raise SftpFaultError(f"unknown SFTP fault settings {sorted(unknown)}")
        times = body.get("times", 1)
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise SftpFaultError("times must be a positive integer or null (until cleared)")
        for name in ("kill_upload_after_bytes", "disk_full_after_bytes"):
            if name in body:
                value = body[name]
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                    raise SftpFaultError(f"{name} must be a byte count (an integer >= 0) or null")
        for name in ("refuse_rename", "posix_rename"):
            if name in body and not isinstance(body[name], bool):
                raise SftpFaultError(f"{name} must be true or false")
        for name in self.COUNTED:
            if name in body:
                setattr(self, name, body[name])
                if body[name] in (None, False):
                    self.remaining.pop(name, None)
                else:
                    self.remaining[name] = times
        if "posix_rename" in body:
            self.posix_rename = body["posix_rename"]

    def fire(self, name: str) -> None:
        """Count one firing of ``name``; the last one switches it off."""
        left = self.remaining.get(name)
        if left is None:
            return
        if left <= 1:
            self.remaining.pop(name)
            setattr(self, name, False if name == "refuse_rename" else None)
        else:
            self.remaining[name] = left - 1


class _SftpFaultState(FaultState):
    """The generic fault state of "sftp", whose reset (``DELETE /_sandbox/faults``) clears the SFTP faults too."""

    def __init__(self, seed: int, system: str, on_reset: Callable[[], None]) -> None:
        super().__init__(seed, system)
        self._on_reset = on_reset

    def reset(self) -> None:
        super().reset()
        self._on_reset()


class SftpSystem(EmulatedSystem):
    """The finance drop as a sandbox system: ready-line entry, faults and files under ``/_sandbox/sftp``.

    It has no HTTP routes of its own (its prefix answers 404); clients speak SFTP to ``host``:``port``.
    ``root`` is set before the server starts (:meth:`open_root`).
    """

    name: ClassVar[str] = "sftp"
    prefix: ClassVar[str] = "/sftp"

    def __init__(self, ctx: SandboxContext) -> None:
        super().__init__(ctx)
        self.user = USER
        self.password = _secret(ctx.seed, "password").hex()[:24]
        self.host_key = seeded_key(ctx.seed, "host")
        self.client_key_text = seeded_key_text(ctx.seed, "client")
        self.client_key = asyncssh.import_private_key(self.client_key_text)
        self.address: tuple[str, int] | None = None
        self.root: Path | None = None
        self._owns_root = False
        self.sftp_faults = SftpFaults()
        ctx.faults[self.name] = _SftpFaultState(ctx.seed, self.name, self.clear_faults)

    # -- lifecycle ----------------------------------------------------------------------------------
    def open_root(self, root: str | Path | None = None) -> Path:
        """Use ``root`` (created if missing) as the server's ``/``, else a new temporary folder that
        :meth:`close_root` removes; ``remote_dir`` is created inside."""
        if root is None:
            self.root = Path(tempfile.mkdtemp(prefix="hub-sandbox-sftp-")).resolve()
            self._owns_root = True
        else:
            self.root = Path(root).resolve()
            self.root.mkdir(parents=True, exist_ok=True)
        (self.root / REMOTE_DIR.lstrip("/")).mkdir(exist_ok=True)
        return self.root

    def close_root(self) -> None:
        if self._owns_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self._owns_root = False

    async def start(self, sock: socket.socket) -> asyncssh.SSHAcceptor:
        """Serve SFTP on an already bound socket, on the running loop."""
        if self.root is None:
            self.open_root()
        self.address = sock.getsockname()[:2]
        return await asyncssh.listen(
            sock=sock,
            server_factory=lambda: _SshServer(self),
            server_host_keys=[self.host_key],
            sftp_factory=lambda chan: SandboxSftpServer(chan, self),
            allow_scp=False,
            login_timeout=30,
        )

    # -- EmulatedSystem -----------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return []

    def connection_info(self, base_url: str) -> dict[str, Any]:
        host, port = self.address or (None, None)
        return {
            "host": host,
            "port": port,
            "user": self.user,
            "password": self.password,
            "private_key": self.client_key_text,
            "host_key": self.host_key.export_public_key("openssh").decode().strip(),
            "remote_dir": REMOTE_DIR,
        }

    def is_api_path(self, path: str) -> bool:
        return False

    def fault_response(self, kind: FaultKind, config: FaultConfig, path: str) -> Response:
        return self.not_found(path)

    # -- authentication -----------------------------------------------------------------------------
    def password_ok(self, username: str, password: str) -> bool:
        return hmac.compare_digest(username.encode(), self.user.encode()) and hmac.compare_digest(
            password.encode(), self.password.encode()
        )

    def key_ok(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == self.user and key.public_data == self.client_key.public_data

    # -- inspection and faults (control API) --------------------------------------------------------
    def clear_faults(self) -> None:
        self.sftp_faults = SftpFaults()

    def files(self) -> list[dict[str, Any]]:
        """Every file under the root, as the client sees its path, with size and SHA-256."""
        if self.root is None:
            return []
        found = []
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(chunk)
            found.append(
                {
                    "path": "/" + path.relative_to(self.root).as_posix(),
                    "size": path.stat().st_size,
                    "sha256": digest.hexdigest(),
                }
            )
        return found

    def clear_files(self) -> None:
        if self.root is None:
            return
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        (self.root / REMOTE_DIR.lstrip("/")).mkdir(exist_ok=True)

    def control_routes(self) -> list[Route]:
        async def files(request: Request) -> Response:
            if request.method == "DELETE":
                self.clear_files()
            return JSONResponse({"root": str(self.root) if self.root else None, "files": self.files()})

        async def faults(request: Request) -> Response:
            if request.method == "DELETE":
                self.clear_faults()
            elif request.method == "POST":
                try:
                    self.sftp_faults.apply(await request.json())
                except ValueError as exc:  # SftpFaultError, or a body that is not JSON
                    return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse({"faults": self.sftp_faults.as_dict()})

        return [
            Route("/files", files, methods=["GET", "DELETE"]),
            Route("/faults", faults, methods=["GET", "POST", "DELETE"]),
        ]

    def log_op(self, method: str, path: str, status: str, fault: str | None = None) -> None:
        entry = self.ctx.calls.start(self.name, method, path, "", iso_z(self.ctx.clock.now()))
        entry["status"] = status
        entry["fault"] = fault
        entry["duration_ms"] = 0.0


class _SshServer(asyncssh.SSHServer):
    """One SSH connection: password or public-key authentication for the one user."""

    def __init__(self, system: SftpSystem) -> None:
        self.system = system

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        sock = conn.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = self.system.password_ok(username, password)
        self.system.log_op("auth_password", "", "ok" if ok else "denied")
        return ok

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = self.system.key_ok(username, key)
        self.system.log_op("auth_publickey", "", "ok" if ok else "denied")
        return ok


class SandboxSftpServer(asyncssh.SFTPServer):
    """asyncssh's file-system SFTP server chrooted to the system's root, plus the fault hooks."""

    def __init__(self, chan: asyncssh.SSHServerChannel, system: SftpSystem) -> None:
        assert system.root is not None
        super().__init__(chan, chroot=os.fsencode(system.root))
        self.system = system
        self._paths: dict[int, str] = {}
        self._full: set[int] = set()  # uploads that met the full disk
        self._killed = False  # requests already read when the connection was dropped reach nothing

    def _client_path(self, path: bytes) -> str:
        return "/" + os.fsdecode(path).lstrip("/")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        writing = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_APPEND))
        client_path = self._client_path(path)
        try:
            handle = super().open(path, pflags, attrs)
        except OSError as exc:
            self.system.log_op("open_write" if writing else "open_read", client_path, exc.strerror or "error")
            raise
        self._paths[id(handle)] = client_path
        self.system.log_op("open_write" if writing else "open_read", client_path, "ok")
        return handle

    def close(self, file_obj: object) -> None:
        self._paths.pop(id(file_obj), None)
        self._full.discard(id(file_obj))
        super().close(file_obj)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        faults = self.system.sftp_faults
        end = offset + len(data)
        path = self._paths.get(id(file_obj), "?")
        kill, full = faults.kill_upload_after_bytes, faults.disk_full_after_bytes
        if self._killed:
            raise asyncssh.SFTPConnectionLost("upload killed by the sandbox")
        if kill is not None and end > kill:
            faults.fire("kill_upload_after_bytes")
            self._killed = True
            self._write_prefix(file_obj, offset, data, kill)
            self.system.log_op("write", path, "connection dropped", "kill_upload")
            log.info("killing the upload of %s after %d bytes", path, kill)
            self.channel.get_connection().abort()
            raise asyncssh.SFTPConnectionLost("upload killed by the sandbox")
        if id(file_obj) in self._full:
            self.system.log_op("write", path, "failure", "disk_full")
            raise asyncssh.SFTPFailure(NO_SPACE)
        if full is not None and end > full:
            faults.fire("disk_full_after_bytes")
            self._full.add(id(file_obj))
            self._write_prefix(file_obj, offset, data, full)
            self.system.log_op("write", path, "failure", "disk_full")
            raise asyncssh.SFTPFailure(NO_SPACE)
        written = super().write(file_obj, offset, data)
        assert isinstance(written, int)
        return written

    def _write_prefix(self, file_obj: object, offset: int, data: bytes, limit: int) -> None:
        """What reached the disk before the fault: the bytes below ``limit``."""
        if offset < limit:
            super().write(file_obj, offset, data[: limit - offset])
            file_obj.flush()  # type: ignore[attr-defined]

    def _refuse_rename(self, method: str, oldpath: bytes, newpath: bytes) -> None:
        faults = self.system.sftp_faults
        target = f"{self._client_path(oldpath)} -> {self._client_path(newpath)}"
        if faults.refuse_rename:
            faults.fire("refuse_rename")
            self.system.log_op(method, target, "permission denied", "refuse_rename")
            raise asyncssh.SFTPPermissionDenied("rename refused")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._refuse_rename("rename", oldpath, newpath)
        target = f"{self._client_path(oldpath)} -> {self._client_path(newpath)}"
        try:
            super().rename(oldpath, newpath)
        except (OSError, asyncssh.SFTPError) as exc:
            self.system.log_op("rename", target, str(exc) or "error")
            raise
        self.system.log_op("rename", target, "ok")

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        target = f"{self._client_path(oldpath)} -> {self._client_path(newpath)}"
        if not self.system.sftp_faults.posix_rename:
            self.system.log_op("posix_rename", target, "unsupported", "no_posix_rename")
            raise asyncssh.SFTPOpUnsupported("posix-rename@openssh.com not supported")
        self._refuse_rename("posix_rename", oldpath, newpath)
        super().posix_rename(oldpath, newpath)
        self.system.log_op("posix_rename", target, "ok")

    def remove(self, path: bytes) -> None:
        super().remove(path)
        self.system.log_op("remove", self._client_path(path), "ok")
