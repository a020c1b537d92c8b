"""FinanceDrop against a local folder and against the sandbox's real SFTP server on loopback.

The SFTP tests go through the session sandbox process (``python -m sandbox up``), whose SFTP server is
asyncssh's; the faults (killed upload, refused rename, disk full, no posix-rename) are set through its
control API and cleared around every test.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connectors.errors import AuthError, TransientError
from connectors.finance_drop import (
    DeliveryConflict,
    DeliveryReceipt,
    DeliveryRefused,
    FinanceDrop,
    LocalFolderStore,
    SftpConfig,
    default_outbox,
    part_name,
)
from connectors.retry import RetryPolicy

CONTENT = "公司代码,日期,净额\r\n1010,2026-11-30,1234.50\r\n".encode() * 4000  # ~160 kB: many SFTP writes
NO_RETRY = RetryPolicy(max_attempts=1)
FAST = RetryPolicy(max_attempts=3, base=0.01, cap=0.05)


def _file(tmp_path: Path, content: bytes = CONTENT, name: str = "local.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


# -- the local folder (no Connection) ----------------------------------------------------------------
def test_without_a_connection_the_drop_is_the_settings_outbox(tmp_path: Path) -> None:
    outbox = default_outbox(tmp_path / "output")
    assert outbox == tmp_path / "output" / "settlement" / "outbox"
    with FinanceDrop.from_connection(None, outbox) as drop:
        receipt = drop.deliver(_file(tmp_path), "1010_settlement_20261130_v01.csv")
        assert receipt == DeliveryReceipt(
            str(outbox / "1010_settlement_20261130_v01.csv"), len(CONTENT), hashlib.sha256(CONTENT).hexdigest()
        )
        assert (outbox / "1010_settlement_20261130_v01.csv").read_bytes() == CONTENT
        assert sorted(p.name for p in outbox.iterdir()) == ["1010_settlement_20261130_v01.csv"]  # no part left
        again = drop.deliver(_file(tmp_path), "1010_settlement_20261130_v01.csv")
        assert again.uploaded is False and again.sha256 == receipt.sha256
        with pytest.raises(DeliveryConflict) as conflict:
            drop.deliver(_file(tmp_path, CONTENT + b"x"), "1010_settlement_20261130_v01.csv")
        assert conflict.value.code == "exists_different"
        assert (outbox / "1010_settlement_20261130_v01.csv").read_bytes() == CONTENT
        assert drop.exists("1010_settlement_20261130_v01.csv") == receipt.sha256
        assert drop.exists("nothing.csv") is None
        assert drop.list() == ["1010_settlement_20261130_v01.csv"]


def test_an_fs_connection_names_the_folder_and_other_types_are_refused(tmp_path: Path) -> None:
    conn = SimpleNamespace(conn_type="fs", host=None, login=None, password=None, extra_dejson={"path": str(tmp_path)})
    drop = FinanceDrop.from_connection(conn, tmp_path / "unused")
    assert isinstance(drop.store, LocalFolderStore) and drop.store.folder == tmp_path
    with pytest.raises(ValueError, match="expected sftp"):
        FinanceDrop.from_connection(SimpleNamespace(conn_type="http", extra_dejson={}), tmp_path)


@pytest.mark.parametrize("name", ["", "../x.csv", "a/b.csv", ".hidden.csv", "x\n.csv", "x" * 201])
def test_remote_names_are_plain_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        FinanceDrop.local(tmp_path).deliver(_file(tmp_path), name)


def test_a_stale_part_file_is_written_over(tmp_path: Path) -> None:
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    (drop_dir / part_name("f.csv")).write_bytes(b"half of an old upl")
    FinanceDrop.local(drop_dir).deliver(_file(tmp_path), "f.csv")
    assert sorted(p.name for p in drop_dir.iterdir()) == ["f.csv"]


def test_the_sftp_connection_is_read_like_the_providers() -> None:
    conn = SimpleNamespace(
        conn_type="sftp",
        host="sftp.example.cn",
        port=None,
        login="finance",
        password="pw",
        extra_dejson={"remote_dir": "/in/settlement/", "no_host_key_check": "true", "conn_timeout": 5},
    )
    config = SftpConfig.from_connection(conn)
    assert (config.host, config.port, config.user, config.remote_dir) == (
        "sftp.example.cn",
        22,
        "finance",
        "/in/settlement",
    )
    assert config.no_host_key_check is True and config.timeout == 5.0 and "pw" not in repr(config)
    with pytest.raises(ValueError, match="remote_dir"):
        SftpConfig.from_connection(SimpleNamespace(**{**conn.__dict__, "extra_dejson": {}}))
    with pytest.raises(ValueError, match="password nor a private key"):
        SftpConfig.from_connection(SimpleNamespace(**{**conn.__dict__, "password": None}))
    strict = SftpConfig.from_connection(SimpleNamespace(**{**conn.__dict__, "extra_dejson": {"remote_dir": "/in"}}))
    assert strict.no_host_key_check is False  # host keys are checked unless the Connection says otherwise


# -- the sandbox SFTP server -------------------------------------------------------------------------
@pytest.fixture
def sftp(sandbox_faults: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The sandbox's SFTP entry, with an empty root, an empty call log and no faults."""
    control = sandbox_faults["control_url"]
    requests.delete(control + "/sftp/files", timeout=10).raise_for_status()
    requests.delete(control + "/calls", timeout=10).raise_for_status()
    yield sandbox_faults["systems"]["sftp"] | {"control_url": control}
    requests.delete(control + "/sftp/faults", timeout=10).raise_for_status()


def _connection(sftp: dict[str, Any], **extra: Any) -> SimpleNamespace:
    """The Airflow Connection ``finance_drop`` as the local setup builds it from the ready line."""
    return SimpleNamespace(
        conn_type="sftp",
        host=sftp["host"],
        port=sftp["port"],
        login=sftp["user"],
        password=sftp["password"],
        extra_dejson={"remote_dir": sftp["remote_dir"], "no_host_key_check": True, **extra},
    )


def _drop(sftp: dict[str, Any], retry: RetryPolicy = NO_RETRY, **changes: Any) -> FinanceDrop:
    config = SftpConfig.from_connection(_connection(sftp))
    return FinanceDrop.sftp(SftpConfig(**{**config.__dict__, "retry": retry, "timeout": 10.0, **changes}))


def _faults(sftp: dict[str, Any], **settings: Any) -> None:
    response = requests.post(sftp["control_url"] + "/sftp/faults", json=settings, timeout=10)
    assert response.status_code == 200, response.text


def _files(sftp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    response = requests.get(sftp["control_url"] + "/sftp/files", timeout=10)
    response.raise_for_status()
    return {f["path"]: f for f in response.json()["files"]}


def _calls(sftp: dict[str, Any]) -> list[tuple[str, str, Any]]:
    response = requests.get(sftp["control_url"] + "/calls", params={"system": "sftp"}, timeout=10)
    return [(c["method"], c["path"], c["fault"]) for c in response.json()["calls"]]


NAME = "1010_settlement_20261130_v01.csv"
FINAL = f"/inbox/{NAME}"
PART = f"/inbox/.{NAME}.part"


@pytest.mark.sandbox
def test_ready_line_entry(sandbox: dict[str, Any]) -> None:
    entry = sandbox["systems"]["sftp"]
    assert set(entry) == {"host", "port", "user", "password", "private_key", "host_key", "remote_dir"}
    assert entry["host"] == "127.0.0.1" and entry["remote_dir"] == "/inbox"
    assert entry["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert entry["host_key"].startswith("ssh-ed25519 ")
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(entry["private_key"]))  # what the provider reads
    assert key.get_name() == "ssh-ed25519"


@pytest.mark.sandbox
def test_upload_idempotent_redeliver_and_refusal_to_overwrite(sftp: dict[str, Any], tmp_path: Path) -> None:
    digest = hashlib.sha256(CONTENT).hexdigest()
    with _drop(sftp) as drop:
        receipt = drop.deliver(_file(tmp_path), NAME)
        assert receipt == DeliveryReceipt(FINAL, len(CONTENT), digest, uploaded=True)
        assert _files(sftp) == {FINAL: {"path": FINAL, "size": len(CONTENT), "sha256": digest}}
        methods = [m for m, _, _ in _calls(sftp)]
        assert "posix_rename" in methods and "rename" not in methods

        assert drop.deliver(_file(tmp_path), NAME) == DeliveryReceipt(FINAL, len(CONTENT), digest, uploaded=False)
        with pytest.raises(DeliveryConflict, match="never overwritten"):
            drop.deliver(_file(tmp_path, b"changed," + CONTENT), NAME)
        assert _files(sftp)[FINAL]["sha256"] == digest and PART not in _files(sftp)
        assert drop.exists(NAME) == digest and drop.exists("v02.csv") is None
        assert drop.list() == [NAME]


@pytest.mark.sandbox
def test_a_killed_upload_leaves_no_final_file_and_a_retry_completes(sftp: dict[str, Any], tmp_path: Path) -> None:
    _faults(sftp, kill_upload_after_bytes=50_000)
    with _drop(sftp) as drop, pytest.raises(TransientError) as killed:
        drop.deliver(_file(tmp_path), NAME)
    assert killed.value.code == "connection_lost"
    files = _files(sftp)
    assert FINAL not in files and files[PART]["size"] == 50_000  # the half upload, under its temporary name
    assert ("write", PART, "kill_upload") in _calls(sftp)

    with _drop(sftp) as drop:  # the task retry: a new connection, the part file written over
        assert drop.deliver(_file(tmp_path), NAME).uploaded is True
    assert _files(sftp) == {FINAL: {"path": FINAL, "size": len(CONTENT), "sha256": hashlib.sha256(CONTENT).hexdigest()}}


@pytest.mark.sandbox
def test_the_connectors_own_retry_reconnects_after_a_killed_upload(sftp: dict[str, Any], tmp_path: Path) -> None:
    _faults(sftp, kill_upload_after_bytes=10_000)
    with _drop(sftp, retry=FAST) as drop:
        receipt = drop.deliver(_file(tmp_path), NAME)
    assert receipt.uploaded is True and set(_files(sftp)) == {FINAL}
    assert [m for m, _, _ in _calls(sftp)].count("auth_password") == 2


@pytest.mark.sandbox
def test_a_refused_rename_is_an_error_and_leaves_nothing(sftp: dict[str, Any], tmp_path: Path) -> None:
    _faults(sftp, refuse_rename=True)
    with _drop(sftp, retry=FAST) as drop, pytest.raises(DeliveryRefused) as refused:
        drop.deliver(_file(tmp_path), NAME)
    assert refused.value.code == "permission_denied" and "refused" in str(refused.value)
    assert _files(sftp) == {}  # no final file, and the part file removed
    assert ("posix_rename", f"{PART} -> {FINAL}", "refuse_rename") in _calls(sftp)


@pytest.mark.sandbox
def test_without_posix_rename_the_plain_rename_is_used(sftp: dict[str, Any], tmp_path: Path) -> None:
    _faults(sftp, posix_rename=False)
    with _drop(sftp) as drop:
        assert drop.deliver(_file(tmp_path), NAME).uploaded is True
        assert drop.deliver(_file(tmp_path, b"v2"), "v02.csv").uploaded is True
    assert set(_files(sftp)) == {FINAL, "/inbox/v02.csv"}
    methods = [m for m, _, _ in _calls(sftp) if "rename" in m]
    assert methods == ["posix_rename", "rename", "rename"]  # asked once, then remembered


@pytest.mark.sandbox
def test_a_full_disk_is_transient_and_the_part_file_is_removed(sftp: dict[str, Any], tmp_path: Path) -> None:
    _faults(sftp, disk_full_after_bytes=20_000, times=None)
    with _drop(sftp, retry=FAST) as drop, pytest.raises(TransientError) as full:
        drop.deliver(_file(tmp_path), NAME)
    # paramiko's pipelined writes lose the failure status: the read-back sees a short file, and the
    # next attempt, writing with a status per write, gets the server's reason.
    assert full.value.code == "disk_full" and "No space left" in str(full.value)
    assert _files(sftp) == {}
    assert [f for _, _, f in _calls(sftp) if f][:1] == ["disk_full"]
    requests.delete(sftp["control_url"] + "/sftp/faults", timeout=10).raise_for_status()
    with _drop(sftp) as drop:
        assert drop.deliver(_file(tmp_path), NAME).uploaded is True


@pytest.mark.sandbox
def test_a_write_lost_once_is_caught_by_the_read_back_and_retried(sftp: dict[str, Any], tmp_path: Path) -> None:
    _faults(sftp, disk_full_after_bytes=20_000)  # one upload meets the full disk
    with _drop(sftp, retry=FAST) as drop:
        receipt = drop.deliver(_file(tmp_path), NAME)
    assert receipt.uploaded is True
    assert _files(sftp) == {FINAL: {"path": FINAL, "size": len(CONTENT), "sha256": hashlib.sha256(CONTENT).hexdigest()}}


@pytest.mark.sandbox
def test_key_auth_and_host_key_checks(sftp: dict[str, Any], tmp_path: Path) -> None:
    keyed = _connection(sftp, private_key=sftp["private_key"], host_key=sftp["host_key"], no_host_key_check=False)
    keyed.password = None
    with FinanceDrop.from_connection(keyed, tmp_path) as drop:
        assert drop.deliver(_file(tmp_path), NAME).uploaded is True
    assert ("auth_publickey", "", None) in _calls(sftp)

    other_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
    with _drop(sftp, host_key=other_key, no_host_key_check=False) as drop, pytest.raises(AuthError) as wrong_host:
        drop.list()
    assert wrong_host.value.code == "host_key"
    with _drop(sftp, password="wrong") as drop, pytest.raises(AuthError) as wrong_password:
        drop.list()
    assert wrong_password.value.code == "auth"


@pytest.mark.sandbox
def test_a_missing_drop_folder_is_refused(sftp: dict[str, Any], tmp_path: Path) -> None:
    with _drop(sftp, remote_dir="/no/such/dir") as drop, pytest.raises(DeliveryRefused, match="does not exist"):
        drop.deliver(_file(tmp_path), NAME)


@pytest.mark.sandbox
def test_the_client_cannot_leave_the_root(sftp: dict[str, Any], tmp_path: Path) -> None:
    with _drop(sftp, remote_dir="/../../..") as drop:
        drop.deliver(_file(tmp_path, b"inside"), "escape.csv")
    assert set(_files(sftp)) == {"/escape.csv"}  # "/.." is the root itself


@pytest.mark.sandbox
def test_the_local_setups_connection_works_with_the_sftp_providers_hook(
    sftp: dict[str, Any], sandbox: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``finance_drop`` as devtools.local_airflow declares it is a Connection the pinned SFTP provider
    opens, and a flow may hand the hook's client to the drop (SftpStore.from_client)."""
    import json

    from airflow.providers.sftp.hooks.sftp import SFTPHook

    from connectors.finance_drop import SftpStore
    from devtools.local_airflow import connections_for

    finance = connections_for(sandbox, tmp_path / "hub.sqlite")["finance_drop"]
    monkeypatch.setenv("AIRFLOW_CONN_FINANCE_DROP", json.dumps({**finance, "extra": json.loads(finance["extra"])}))
    hook = SFTPHook(ssh_conn_id="finance_drop")
    with hook.get_managed_conn() as client:
        drop = FinanceDrop(SftpStore.from_client(client, json.loads(finance["extra"])["remote_dir"]))
        assert drop.deliver(_file(tmp_path), NAME).remote_path == FINAL
        assert drop.list() == [NAME]
