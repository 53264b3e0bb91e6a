"""README's command and configuration tables are generated (scripts/readme.py, `make docs`):
they say what the commands' help and the settings' declarations say, and a test fails when
README.md was not regenerated after either changed."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from newswire import cli
from newswire.config import NotifyConfig

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "readme.py"


@pytest.fixture(scope="module")
def readme() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", str(path)], capture_output=True, text=True,
                          timeout=120)


def test_readme_is_current() -> None:
    result = _check(ROOT / "README.md")
    assert result.returncode == 0, f"README.md is not current: run 'make docs'\n{result.stdout[-3000:]}"


def test_readme_check_fails_on_a_table_edited_by_hand(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", stale)
    text = stale.read_text(encoding="utf-8")
    row = "| `max_attempts` | `8` |"
    assert row in text
    stale.write_text(text.replace(row, "| `max_attempts` | `9` |"), encoding="utf-8")
    result = _check(stale)
    assert result.returncode == 1 and "make docs" in result.stderr, result
    assert "-| `max_attempts` | `9` |" in result.stdout and "+| `max_attempts` | `8` |" in result.stdout
    assert stale.read_text(encoding="utf-8") != text  # --check changed nothing


def test_a_changed_default_makes_the_readme_stale(readme: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.render(text) == text
    field = next(f for f in dataclasses.fields(NotifyConfig) if f.name == "max_attempts")
    monkeypatch.setattr(field, "default", 9)
    changed = readme.render(text)
    assert changed != text and "| `max_attempts` | `9` |" in changed


def test_a_changed_help_text_makes_the_readme_stale(readme: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    monkeypatch.setattr(cli.main.commands["status"], "help", "Say how the journal is doing.")
    changed = readme.render(text)
    assert changed != text and "| `status` | Say how the journal is doing. |" in changed


def test_every_command_and_setting_is_in_the_readme() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, command in cli.main.commands.items():
        assert f"| `{name}" in text, name
        for sub in getattr(command, "commands", {}):
            assert f"| `{name} {sub}" in text, (name, sub)
    for field in dataclasses.fields(NotifyConfig):
        assert f"| `{field.name}` |" in text, field.name
