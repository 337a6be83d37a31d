"""The core never imports the UI: softphone/ and crmclient/ stay free of QtWidgets."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6.QtWidgets", "PySide6.QtGui", "app")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", ["softphone", "crmclient"])
def test_core_packages_never_import_the_ui(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_only_one_module_knows_pjsua2_states() -> None:
    marker = "PJSIP_INV_" + "STATE_"  # spelled apart so this file does not match itself
    knowing = [
        str(path.relative_to(ROOT))
        for path in sorted(ROOT.glob("**/*.py"))
        if ".venv" not in path.parts and marker in path.read_text(encoding="utf-8")
    ]
    assert knowing == ["softphone/engine/states.py"]
