"""load_settings: each mistake in the settings is one line naming its source, key and remedy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callisto.config import ConfigError, load_settings

PORT_FLAG = {"port": ("--port", None)}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CALLISTO_* variables from the developer's shell; an empty working directory."""
    for name in list(os.environ):
        if name.startswith("CALLISTO_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _error(flags: dict[str, tuple[str, object]] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(flags)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_flag_wins_and_is_named_in_its_error(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text("port = 7000\n")
    assert load_settings({"port": ("--port", 7100)}).settings.port == 7100
    assert load_settings(PORT_FLAG).settings.port == 7000
    message = _error({"port": ("--port", 99999)})
    assert message.startswith("--port: port = 99999 is not valid")
    assert "65535" in message


def test_a_wrongly_typed_value_in_the_file_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text('# comment\nhost = "0.0.0.0"\nport = "abc"\n')
    message = _error()
    assert message.startswith("callisto.toml line 3: port = 'abc' is not valid")
    assert "integer" in message


def test_a_nested_value_in_a_table_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text(
        '[providers.VLLM]\nkind = "openai"\n\ntimeout = "soon"\n'
    )
    message = _error()
    assert message.startswith("callisto.toml line 4: providers.vllm.timeout = 'soon'")


def test_a_wrongly_typed_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "callisto.toml").write_text("[runs]\npoll_after_ms = 20\n")
    monkeypatch.setenv("CALLISTO_RUNS__POLL_AFTER_MS", "fast")
    assert _error().startswith("CALLISTO_RUNS__POLL_AFTER_MS: runs.poll_after_ms = 'fast'")


def test_a_provider_key_is_never_shown(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text("[providers.x]\napi_key = 123456789\n")
    message = _error()
    assert "providers.x.api_key" in message
    assert "123456789" not in message


def test_malformed_toml_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text('host = "a"\nport = 80 80\n')
    message = _error()
    assert message.startswith("callisto.toml line 2: not valid TOML")


def test_an_unreadable_file_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "callisto.toml"
    config.write_bytes(b'host = "\xff"\n')
    assert "is not UTF-8" in _error()


def test_config_paths_that_are_directories(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").mkdir()
    assert "is a directory" in _error()
    monkeypatch.setenv("CALLISTO_CONFIG", str(tmp_path))
    assert _error().startswith(f"CALLISTO_CONFIG={tmp_path} is a directory")


def test_unknown_keys_warn_with_the_nearest_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "callisto.toml").write_text(
        "prot = 9000\n[runs]\npoll_after = 5\n[providers.vllm]\ntimout = 3\nwhatever = 1\n"
    )
    monkeypatch.setenv("CALLISTO_RUNS__MAX_CONCURENT", "3")
    # Top-level names are shared with client programs (CALLISTO_BASE_URL): not warned about.
    monkeypatch.setenv("CALLISTO_BASE_URL", "http://127.0.0.1:8000/v1")
    loaded = load_settings()
    assert loaded.settings.port == 8000
    assert loaded.warnings == [
        "callisto.toml line 1: unknown setting 'prot' is ignored; did you mean 'port'?",
        "callisto.toml line 3: unknown setting 'runs.poll_after' is ignored; "
        "did you mean 'runs.poll_after_ms'?",
        "callisto.toml line 5: unknown setting 'providers.vllm.timout' is ignored; "
        "did you mean 'providers.vllm.timeout'?",
        "callisto.toml line 6: unknown setting 'providers.vllm.whatever' is ignored; "
        "see docs/configuration.md",
        "unknown setting 'CALLISTO_RUNS__MAX_CONCURENT' is ignored; "
        "did you mean 'CALLISTO_RUNS__MAX_CONCURRENT'?",
    ]


def test_known_keys_give_no_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text(
        'port = 9000\n[runs]\npoll_after_ms = 5\n[providers.vllm]\nbase_url = "http://x"\n'
        '[providers.vllm.models.qwen]\ntool_format = "hermes"\n'
        '[providers.vllm.headers]\nX-Anything = "1"\n'
    )
    monkeypatch.setenv("CALLISTO_PROVIDERS__VLLM__TIMEOUT", "3")
    loaded = load_settings()
    assert loaded.warnings == []
    assert loaded.settings.providers["vllm"].timeout == 3


def test_an_unknown_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLISTO_LOG_LEVEL", "loud")
    assert _error().startswith("CALLISTO_LOG_LEVEL: log_level = 'loud' is not valid: use one of")
    monkeypatch.setenv("CALLISTO_LOG_LEVEL", "debug")
    assert load_settings().settings.log_level == "DEBUG"
