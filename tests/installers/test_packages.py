"""The installers IT deploys: the MSI's tables and the .deb's install/remove cycle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _msi_table(msi: Path, table: str) -> list[list[str]]:
    out = subprocess.run(
        ["msiinfo", "export", str(msi), table], check=True, capture_output=True, text=True
    ).stdout
    return [line.split("\t") for line in out.splitlines()[3:]]


@pytest.mark.skipif(shutil.which("wixl") is None, reason="wixl (Debian msitools) not installed")
def test_msi_registers_url_protocols_and_takes_policy_properties(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    (stage / "_internal" / "resources").mkdir(parents=True)
    (stage / "lodgephone.exe").write_bytes(b"MZ stand-in for the Windows bundle")
    (stage / "_internal" / "resources" / "lodgephone.svg").write_text("<svg/>")
    env = {**os.environ, "STAGE_DIR": str(stage)}
    result = subprocess.run(
        ["bash", "installers/windows/build_msi.sh"],
        cwd=ROOT,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    msi = ROOT / result.stdout.strip().splitlines()[-1]

    registry = {(row[2], row[3]): row[4] for row in _msi_table(msi, "Registry")}
    for scheme in ("tel", "sip", "callto"):
        assert registry[(f"Software\\Classes\\{scheme}", "URL Protocol")] == ""
        command = registry[(f"Software\\Classes\\{scheme}\\shell\\open\\command", "")]
        assert command == '"[INSTALLDIR]lodgephone.exe" "%1"'
    assert registry[("SOFTWARE\\Policies\\Lodgestory\\Phone", "CrmUrl")] == "[CRMURL]"
    assert registry[("SOFTWARE\\Policies\\Lodgestory\\Phone\\Defaults", "start_at_login")] == (
        "#[AUTOSTART]"
    )
    run_key = "Software\\Microsoft\\Windows\\CurrentVersion\\Run"
    assert registry[(run_key, "LodgestoryPhone")].endswith("--autostart")
    properties = {row[0]: row[1] for row in _msi_table(msi, "Property")}
    assert properties["AUTOSTART"] == "0"
    assert properties["ALLUSERS"] == "1"  # per-machine
    files = {row[2].split("|")[-1] for row in _msi_table(msi, "File")}
    assert {"lodgephone.exe", "lodgephone.svg"} <= files


@pytest.mark.slow
@pytest.mark.timeout(900)  # builds the bundle (PyInstaller) and installs a package
@pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: needs root")
@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="not a Debian system")
def test_deb_installs_handles_tel_links_and_removes_cleanly() -> None:
    result = subprocess.run(
        ["bash", "installers/linux/check_deb.sh"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reached the running app" in result.stdout
    assert "nothing left behind" in result.stdout
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["deb_mb"] > 1
