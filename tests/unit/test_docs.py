"""The docs say what the code does: every setting is in docs/configuration.md with its variable
and default, and the README and docs link only files of the repository."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from callisto.config import (
    ChatSettings,
    LimitSettings,
    ModelSettings,
    ProviderSettings,
    RunSettings,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \| ([^|]+?) \|", re.MULTILINE)


def _documented() -> dict[str, tuple[str, str]]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = ROW.findall(text)
    return {key: (env, default) for key, env, default in rows if env.startswith("CALLISTO_")}


def _shown(value: Any) -> str:
    """A default as the reference writes it."""
    if value is None:
        return "unset"
    if value == {} or value == []:
        return "none"
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _settings() -> list[tuple[str, type[BaseModel], str]]:
    """Every leaf setting: (key as documented, its model, the field name)."""
    tables = {
        (Settings, "runs"),
        (Settings, "chat"),
        (Settings, "limits"),
        (Settings, "providers"),
        (ProviderSettings, "models"),
    }
    out: list[tuple[str, type[BaseModel], str]] = []
    for prefix, model in (
        ("", Settings),
        ("runs.", RunSettings),
        ("chat.", ChatSettings),
        ("limits.", LimitSettings),
        ("providers.NAME.", ProviderSettings),
        ("providers.NAME.models.MODEL.", ModelSettings),
    ):
        out += [(prefix + n, model, n) for n in model.model_fields if (model, n) not in tables]
    return out


@pytest.mark.parametrize(("key", "model", "name"), _settings())
def test_every_setting_is_documented_with_its_variable_and_default(
    key: str, model: type[BaseModel], name: str
) -> None:
    documented = _documented()
    assert key in documented, f"docs/configuration.md has no row for {key}"
    env, default = documented[key]
    assert env == "CALLISTO_" + key.replace(".", "__").upper()
    field = model.model_fields[name]
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    assert default.split(" (")[0] == _shown(value)


def test_no_row_documents_a_setting_that_does_not_exist() -> None:
    known = {key for key, _, _ in _settings()}
    assert set(_documented()) <= known


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]
)
def test_links_point_at_files_of_the_repository(page: str) -> None:
    path = ROOT / page
    for target in LINK.findall(path.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page} links outside the repository: {target}"
        assert resolved.exists(), f"{page} links a missing file: {target}"
    assert "../shared" not in path.read_text()


TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("page", ["README.md", "docs/configuration.md"])
def test_toml_examples_load_without_warnings(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = TOML_BLOCK.findall((ROOT / page).read_text())
    assert blocks
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("CALLISTO_")]:
        monkeypatch.delenv(name)
    defaults = load_settings().settings.model_dump()  # no callisto.toml here yet
    for block in blocks:
        (tmp_path / "callisto.toml").write_text(block)
        loaded = load_settings()
        assert loaded.warnings == []
        # The block set something: it was read, not ignored.
        assert loaded.settings.model_dump() != defaults
