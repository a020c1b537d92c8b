"""The sandbox SFTP server through the real process with paramiko: auth, the root, the control API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import paramiko
import pytest
import requests

pytestmark = pytest.mark.sandbox


@pytest.fixture
def sftp(sandbox_faults: dict[str, Any]) -> Iterator[dict[str, Any]]:
    control = sandbox_faults["control_url"]
    requests.delete(control + "/sftp/files", timeout=10).raise_for_status()
    yield sandbox_faults["systems"]["sftp"] | {"control_url": control}


def _transport(sftp: dict[str, Any], **auth: Any) -> paramiko.Transport:
    transport = paramiko.Transport((sftp["host"], sftp["port"]))
    transport.connect(username=sftp["user"], **auth)
    return transport


def test_password_and_key_auth_and_the_host_key(sftp: dict[str, Any]) -> None:
    with _transport(sftp, password=sftp["password"]) as transport:
        assert (
            f"{transport.get_remote_server_key().get_name()} {transport.get_remote_server_key().get_base64()}"
            == (sftp["host_key"])
        )
        assert paramiko.SFTPClient.from_transport(transport).listdir("/") == ["inbox"]
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(sftp["private_key"]))
    with _transport(sftp, pkey=key) as transport:
        assert paramiko.SFTPClient.from_transport(transport).listdir("/inbox") == []
    with pytest.raises(paramiko.AuthenticationException):
        _transport(sftp, password="wrong").close()


def test_sftp_only_and_the_root_holds(sftp: dict[str, Any]) -> None:
    with _transport(sftp, password=sftp["password"]) as transport:
        with pytest.raises(paramiko.SSHException):  # no exec, no shell: the session is closed
            transport.open_session().exec_command("id")
        client = paramiko.SFTPClient.from_transport(transport)
        assert client.normalize("/../../..") == "/"
        with client.open("/../../outside.txt", "wb") as handle:
            handle.write(b"x")
    files = requests.get(sftp["control_url"] + "/sftp/files", timeout=10).json()
    assert [f["path"] for f in files["files"]] == ["/outside.txt"]  # landed in the root


def test_fault_settings_are_validated_and_cleared_with_the_others(sftp: dict[str, Any]) -> None:
    url = sftp["control_url"] + "/sftp/faults"
    for bad in ({"kill_upload_after_bytes": -1}, {"refuse_rename": "yes"}, {"times": 0}, {"no_such": 1}, [1]):
        response = requests.post(url, json=bad, timeout=10)
        assert response.status_code == 400 and response.json()["error"], bad
    set_ = requests.post(url, json={"refuse_rename": True, "times": None}, timeout=10).json()["faults"]
    assert set_["refuse_rename"] is True and set_["remaining"] == {"refuse_rename": None}
    requests.delete(sftp["control_url"] + "/faults", timeout=10).raise_for_status()
    assert requests.get(url, timeout=10).json()["faults"]["refuse_rename"] is False
