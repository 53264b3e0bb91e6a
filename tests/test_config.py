"""config.yaml: loaded into typed settings; every mistake is one line naming file, line and key."""

from __future__ import annotations

import pytest

from newswire.config import load_config
from newswire.errors import ConfigError

from conftest import CONFIG, Journal


def test_example_config_loads(journal: Journal) -> None:
    config = journal.config()
    assert config.journal.title == "Test Journal"
    assert config.journal.feeds_url == "https://journal.test/feeds/"
    assert [a.key for a in config.authors] == ["jmorton", "napolitano"]
    assert config.authors[0].affiliation == "U.S. Immigration and Customs Enforcement"
    assert config.feeds.entries == 25 and config.feeds.formats == ("atom", "rss", "json")
    assert config.paths.store == journal.root / "newswire.db"
    assert config.journal.tag("post/x") == "tag:journal.test,2009:post/x"


@pytest.mark.parametrize("old, new, where, message", [
    ("feeds_url: https://journal.test/feeds/", "feeds_url: https://journal.test/feeds",
     "journal.feeds_url", "must end with '/'"),
    ("site_url: https://journal.test/", "site_url: journal.test/", "journal.site_url", "absolute http(s) URL"),
    ("timezone: America/New_York", "timezone: Mars/Olympus", "journal.timezone", "unknown time zone"),
    ("entries: 25", "entries: many", "feeds.entries", "whole number"),
    ("entries: 25", "entries: 0", "feeds.entries", "between 1 and 1000"),
    ("content: full", "content: everything", "feeds.content", "'full' or 'summary'"),
    ("formats: [atom, rss, json]", "formats: [atom, rdf]", "feeds.formats", "unknown format 'rdf'"),
    ("  language: en", "  langauge: en", "journal.langauge", "did you mean 'language'"),
    ("  title: Test Journal", "  title: [a, b]", "journal.title", "must be a text value"),
    ('  id_date: "2009"', "  id_date: last year", "journal.id_date", "YYYY"),
])
def test_bad_values_name_file_line_and_key(journal: Journal, old: str, new: str, where: str, message: str) -> None:
    assert old in CONFIG
    journal.write_config(CONFIG.replace(old, new))
    with pytest.raises(ConfigError) as info:
        journal.config()
    text = str(info.value)
    line = next(i for i, text_line in enumerate(CONFIG.replace(old, new).splitlines(), 1) if new.strip() in text_line)
    assert text.startswith(f"{journal.config_path}:{line}: {where}:"), text
    assert message in text
    assert "\n" not in text


def test_unknown_top_level_key(journal: Journal) -> None:
    journal.write_config(CONFIG + "colour: blue\n")
    with pytest.raises(ConfigError, match=r"config.yaml:\d+: colour: unknown key"):
        journal.config()


def test_invalid_yaml_and_missing_file(journal: Journal) -> None:
    journal.write_config("journal: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        journal.config()
    with pytest.raises(ConfigError, match="no such file"):
        load_config(journal.root / "absent.yaml")


def test_webhook_secret_must_be_a_variable_name(journal: Journal) -> None:
    journal.write_config(CONFIG + "notify:\n  webhooks:\n    - {url: https://hook.test/x, secret_env: 's3cr3t value!'}\n")
    with pytest.raises(ConfigError, match=r"notify.webhooks\[0\].secret_env: must be the name of an environment"):
        journal.config()


def test_cli_reports_bad_config_in_one_line_with_exit_2(journal: Journal) -> None:
    journal.write_config(CONFIG.replace("feeds_url: https://journal.test/feeds/", "feeds_url: ftp://x/feeds/"))
    result = journal.cli("publish")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "journal.feeds_url" in result.stderr and "Traceback" not in result.stderr
    assert not journal.feeds.exists() and not (journal.root / "newswire.db").exists()
