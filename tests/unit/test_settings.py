"""Settings from keyword arguments, CALLISTO_* environment variables and callisto.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from callisto.config import ConfigError, ProviderSettings, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CALLISTO_* or provider keys from the developer's shell; an empty working directory."""
    import os

    for name in list(os.environ):
        if name.startswith("CALLISTO_") or name in (
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.api_key is None
    assert settings.api_keys() == []
    assert settings.database_url.startswith("sqlite:///")
    assert settings.providers == {}
    assert set(settings.provider_settings()) == {"offline"}
    assert settings.provider_settings()["offline"].kind == "offline"


def test_environment_with_nested_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLISTO_PORT", "9001")
    monkeypatch.setenv("CALLISTO_DATABASE_URL", "sqlite:///env.db")
    monkeypatch.setenv("CALLISTO_RUNS__POLL_AFTER_MS", "7")
    monkeypatch.setenv("CALLISTO_RUNS__EXPIRES_AFTER", "30")
    monkeypatch.setenv("CALLISTO_PROVIDERS__VLLM__BASE_URL", "http://127.0.0.1:8001/v1")
    monkeypatch.setenv("CALLISTO_PROVIDERS__VLLM__TOOL_FORMAT", "hermes")
    settings = Settings()
    assert settings.port == 9001
    assert settings.database_url == "sqlite:///env.db"
    assert settings.runs.poll_after_ms == 7
    assert settings.runs.expires_after == 30
    assert settings.runs.max_concurrent == 1024  # untouched nested defaults stay
    vllm = settings.providers["vllm"]
    assert vllm.base_url == "http://127.0.0.1:8001/v1"
    assert vllm.tool_format == "hermes"
    assert vllm.kind == "openai"


def test_provider_names_are_lowercased() -> None:
    settings = Settings(
        providers={"VLLM": {"base_url": "http://x/v1"}, "Groq": {}}, default_provider="VLLM"
    )
    assert set(settings.providers) == {"vllm", "groq"}
    assert settings.default_provider == "vllm"


def test_keyword_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLISTO_PORT", "9001")
    monkeypatch.setenv("CALLISTO_HOST", "0.0.0.0")
    settings = Settings(port=9100)
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"


TOML = """
port = 7000
host = "127.0.0.2"
max_body_bytes = 1234

[runs]
poll_after_ms = 3

[providers.VLLM]
base_url = "http://toml/v1"
tool_format = "auto"

[providers.claude]
kind = "anthropic"
api_key = "sk-toml"
"""


def test_callisto_toml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "callisto.toml").write_text(TOML)
    settings = Settings()
    assert settings.port == 7000
    assert settings.host == "127.0.0.2"
    assert settings.max_body_bytes == 1234
    assert settings.runs.poll_after_ms == 3
    assert settings.providers["vllm"].base_url == "http://toml/v1"
    claude = settings.providers["claude"]
    assert claude.kind == "anthropic"
    assert claude.api_key is not None and claude.api_key.get_secret_value() == "sk-toml"
    assert "sk-toml" not in repr(settings)


def test_callisto_config_points_at_another_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere" / "conf.toml"
    other.parent.mkdir()
    other.write_text("port = 7100\n")
    (tmp_path / "callisto.toml").write_text("port = 7000\n")
    monkeypatch.setenv("CALLISTO_CONFIG", str(other))
    assert Settings().port == 7100


def test_no_config_file_means_the_defaults() -> None:
    assert Settings().port == 8000


def test_callisto_config_naming_a_missing_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A typo in the variable would otherwise start the server on the defaults without a word.
    monkeypatch.setenv("CALLISTO_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match=r"CALLISTO_CONFIG=.*absent\.toml: no such file"):
        Settings()


def test_environment_overrides_toml_and_kwargs_override_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "callisto.toml").write_text(TOML)
    monkeypatch.setenv("CALLISTO_PORT", "7200")
    monkeypatch.setenv("CALLISTO_PROVIDERS__VLLM__TOOL_FORMAT", "hermes")
    assert Settings().port == 7200
    assert Settings(port=7300).port == 7300
    vllm = Settings().providers["vllm"]
    assert vllm.tool_format == "hermes"
    # The file's other fields of the same provider survive the environment's override.
    assert vllm.base_url == "http://toml/v1"


@pytest.mark.parametrize(
    ("env", "name", "kind"),
    [
        ("OPENAI_API_KEY", "openai", "openai"),
        ("ANTHROPIC_API_KEY", "anthropic", "anthropic"),
        ("GEMINI_API_KEY", "gemini", "gemini"),
    ],
)
def test_implied_providers_from_well_known_keys(
    monkeypatch: pytest.MonkeyPatch, env: str, name: str, kind: str
) -> None:
    monkeypatch.setenv(env, "sk-implied")
    providers = Settings().provider_settings()
    assert set(providers) == {name, "offline"}
    implied = providers[name]
    assert implied.kind == kind
    assert implied.base_url is not None and implied.base_url.startswith("https://")
    assert implied.api_key is not None and implied.api_key.get_secret_value() == "sk-implied"


def test_configured_providers_win_over_implied_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-implied")
    settings = Settings(providers={"openai": ProviderSettings(base_url="http://proxy/v1")})
    assert settings.provider_settings()["openai"].base_url == "http://proxy/v1"
    assert settings.provider_settings()["openai"].api_key is None


def test_empty_well_known_key_implies_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert set(Settings().provider_settings()) == {"offline"}


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        ("k1", ["k1"]),
        ("k1,k2", ["k1", "k2"]),
        (" k1 , k2 ,", ["k1", "k2"]),
        (",,", []),
        ("", []),
    ],
)
def test_api_keys_splitting(raw: str, keys: list[str]) -> None:
    assert Settings(api_key=raw).api_keys() == keys


def test_api_key_from_the_environment_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLISTO_API_KEY", "k1,k2")
    settings = Settings()
    assert settings.api_keys() == ["k1", "k2"]
    assert "k1" not in repr(settings)


def test_model_overrides_of_a_provider() -> None:
    provider = ProviderSettings(
        tool_format="native",
        models={"qwen": {"tool_format": "hermes"}},  # type: ignore[dict-item]
    )
    assert provider.for_model("qwen").tool_format == "hermes"
    assert provider.for_model("qwen").tool_result_style == "native"
    assert provider.for_model("other") is provider
