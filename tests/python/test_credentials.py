"""Credentials: environment first, then the pack's .env; the key never shows in repr."""

from __future__ import annotations

from pathlib import Path

from comfy_extension.rtc_node import credentials


def test_dotenv_parsing_handles_quotes_comments_and_export() -> None:
    text = """
# a comment
export DAYDREAM_API_KEY="sk key with spaces"
DAYDREAM_API_URL=https://api.example.test # trailing comment
EMPTY=
broken line
"""
    assert credentials.parse_dotenv(text) == {
        "DAYDREAM_API_KEY": "sk key with spaces",
        "DAYDREAM_API_URL": "https://api.example.test",
        "EMPTY": "",
    }


def test_environment_wins_over_the_pack_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    lines = ["DAYDREAM_API_KEY=k-file", "DAYDREAM_API_URL=https://file.test", ""]
    dotenv.write_text("\n".join(lines))
    from_env = credentials.resolve({"DAYDREAM_API_KEY": "from-env"}, dotenv)
    assert (from_env.api_key, from_env.source, from_env.api_url) == (
        "from-env",
        "env",
        "https://file.test",
    )
    from_file = credentials.resolve({}, dotenv)
    assert (from_file.api_key, from_file.source) == ("k-file", "dotenv")
    nothing = credentials.resolve({}, tmp_path / "missing.env")
    assert (nothing.api_key, nothing.source, nothing.child_environment()) == (None, "none", {})


def test_the_key_is_never_in_repr_but_reaches_the_child_environment() -> None:
    creds = credentials.Credentials(api_key="secret-value", api_url=None, source="env")
    assert "secret-value" not in repr(creds)
    assert creds.child_environment() == {"DAYDREAM_API_KEY": "secret-value"}
