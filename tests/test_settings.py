"""assistant/settings.py: defaults < config file < environment < flags, and clear errors."""

from pathlib import Path

from assistant.settings import load_settings


def test_precedence_defaults_file_env_arguments(tmp_path, monkeypatch):
    for name in ("ASSISTANT_TOP_K", "ASSISTANT_CONFIG", "ASSISTANT_CHUNK_SIZE", "ASSISTANT_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nothing"))
    assert load_settings().top_k == 10
    config = tmp_path / "config.toml"
    config.write_text('top_k = 7\nchunk_size = 180\nstore = "/tmp/from-file"\n')
    s = load_settings(config)
    assert (s.top_k, s.chunk_size, s.store) == (7, 180, Path("/tmp/from-file"))
    monkeypatch.setenv("ASSISTANT_TOP_K", "9")
    assert load_settings(config).top_k == 9
    assert load_settings(config, top_k=3, chunk_size=None).top_k == 3
    assert load_settings(config, top_k=3).chunk_size == 180
    monkeypatch.setenv("ASSISTANT_CONFIG", str(config))
    assert load_settings().chunk_size == 180


def test_missing_config_file_is_an_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")
