"""``devtools.testrun.ensure_chromium``: the UI test's browser is installed when missing, never skipped."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devtools import testrun


def test_nothing_is_installed_when_chromium_and_its_driver_are_there(monkeypatch, tmp_path):
    binaries = [tmp_path / "chromium", tmp_path / "chromedriver"]
    for binary in binaries:
        binary.touch()
    monkeypatch.setattr(testrun, "CHROMIUM_BINARIES", tuple(map(str, binaries)))
    calls = []
    assert testrun.ensure_chromium(run=lambda *a, **k: calls.append(a)) is None
    assert calls == []


def test_missing_chromium_is_installed_with_apt_get(monkeypatch, tmp_path):
    binaries = [tmp_path / "chromium", tmp_path / "chromedriver"]
    monkeypatch.setattr(testrun, "CHROMIUM_BINARIES", tuple(map(str, binaries)))
    monkeypatch.setattr(testrun.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls = []

    def apt(args, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append((args, kwargs["env"]["DEBIAN_FRONTEND"]))
        if args[1] == "install":
            for binary in binaries:
                Path(binary).touch()
        return subprocess.CompletedProcess(args, 0, "", "")

    assert testrun.ensure_chromium(run=apt) is None
    assert calls == [
        (["apt-get", "update", "-qq"], "noninteractive"),
        (["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], "noninteractive"),
    ]


def test_a_failed_install_is_reported(monkeypatch, tmp_path):
    monkeypatch.setattr(testrun, "CHROMIUM_BINARIES", (str(tmp_path / "chromium"),))
    monkeypatch.setattr(testrun.shutil, "which", lambda name: f"/usr/bin/{name}")

    def refused(args, **_kwargs):  # noqa: ANN001, ANN003, ANN202
        return subprocess.CompletedProcess(args, 100, "", "E: Unable to locate package chromium")

    problem = testrun.ensure_chromium(run=refused)
    assert problem and "apt-get update -qq failed (100)" in problem and "Unable to locate" in problem
    monkeypatch.setattr(testrun.shutil, "which", lambda name: None)
    assert "no apt-get" in testrun.ensure_chromium(run=refused)
