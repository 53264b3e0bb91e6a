"""config.yaml: loaded into typed settings; every mistake is one line naming file, line and key."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from newswire.config import load_config
from newswire.errors import ConfigError

from harness import CONFIG, Journal


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


# --- what is private stays private ----------------------------------------------------------

PATHS = "paths: {store: newswire.db, content: content, output: feeds}"


@pytest.mark.parametrize("paths, shown", [
    ("{store: feeds/newswire.db, output: feeds}", "feeds/newswire.db"),               # the example
    ("{store: feeds/private/journal.db, output: feeds}", "feeds/private/journal.db"),  # deeper down
    ("{store: content/../feeds/x.db, output: feeds}", "feeds/x.db"),                   # through '..'
    ("{store: ./feeds//x.db, output: feeds/.}", "feeds/x.db"),                         # spelt otherwise
    ("{store: feeds, output: feeds}", "feeds"),                                        # the folder itself
    ("{store: public/x.db, output: public/}", "public/x.db"),
    ("{store: data/x.db, output: data}", "data/x.db"),
])
def test_a_store_inside_the_output_folder_is_refused(journal: Journal, paths: str, shown: str) -> None:
    journal.write_config(CONFIG.replace(PATHS, f"paths: {paths}"))
    with pytest.raises(ConfigError) as info:
        journal.config()
    text = str(info.value)
    assert text.startswith(f"{journal.config_path}:{CONFIG.splitlines().index(PATHS) + 1}: paths.store: "), text
    assert "paths.output" in text and "served to the world" in text and "\n" not in text
    assert shown.split("/")[-1] in text


def test_a_store_reaching_the_output_folder_through_a_symlink_is_refused(journal: Journal) -> None:
    (journal.root / "feeds").mkdir()
    (journal.root / "data").symlink_to(journal.root / "feeds")  # data/ is the output folder
    journal.write_config(CONFIG.replace(PATHS, "paths: {store: data/newswire.db, output: feeds}"))
    with pytest.raises(ConfigError, match=r"paths\.store: .*data/newswire\.db is inside the output folder"):
        journal.config()
    # ... and the other way round: the output folder is a symlink to the store's folder.
    journal.write_config(CONFIG.replace(PATHS, "paths: {store: private/newswire.db, output: public}"))
    (journal.root / "private").mkdir()
    (journal.root / "public").symlink_to(journal.root / "private")
    with pytest.raises(ConfigError, match=r"paths\.store: "):
        journal.config()


@pytest.mark.parametrize("companion", ["-wal", "-shm", "-journal", ".lock"])
def test_the_stores_companion_files_may_not_reach_the_output_folder(journal: Journal, companion: str) -> None:
    """SQLite's write-ahead log holds the newest pages of the store, drafts and all; the lock
    file sits beside the store. A symlink that puts one of them in the output folder is refused."""
    (journal.root / "feeds").mkdir()
    (journal.root / f"newswire.db{companion}").symlink_to(journal.root / "feeds" / f"leak{companion}")
    with pytest.raises(ConfigError, match=rf"paths\.store: .*newswire\.db{companion} is inside the output folder"):
        journal.config()


def test_a_store_beside_the_output_folder_or_named_like_it_is_fine(journal: Journal) -> None:
    for paths in ("{store: feeds.db, output: feeds}", "{store: feeds-private/x.db, output: feeds}",
                  "{store: ../elsewhere/x.db, output: feeds}", "{store: data/x.db, output: data-public}"):
        journal.write_config(CONFIG.replace(PATHS, f"paths: {paths}"))
        journal.config()


def test_cli_refuses_a_store_in_the_output_folder_with_exit_2_and_creates_nothing(journal: Journal) -> None:
    journal.post("draft", title="Not for the world", draft=True)
    journal.write_config(CONFIG.replace(PATHS, "paths: {store: feeds/newswire.db, output: feeds}"))
    for command in (("publish",), ("sync",), ("run", "--once"), ("status",)):
        result = journal.cli(*command)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "paths.store" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not journal.feeds.exists()


PASSWORD = "s3cret-Pa55"
URL_KEYS = [  # (where the URL goes in the config, the key the message names)
    ("notify:\n  websub: [{url}]\n", "notify.websub"),
    ("notify:\n  websub: {url}\n", "notify.websub"),
    ("notify:\n  weblogs: [https://rpc.test/RPC2, {url}]\n", "notify.weblogs"),
    ("notify:\n  webhooks:\n    - {{url: '{url}', secret_env: HOOK_SECRET}}\n", "notify.webhooks[0].url"),
    ("sources:\n  - {{url: '{url}'}}\n", "sources[0].url"),
]


@pytest.mark.parametrize("userinfo", [f"user:{PASSWORD}", PASSWORD, f"user:{PASSWORD}@with@at", f":{PASSWORD}"])
@pytest.mark.parametrize("section, key", URL_KEYS)
def test_a_url_with_a_user_name_or_password_is_refused_and_never_echoed(
        journal: Journal, monkeypatch: pytest.MonkeyPatch, section: str, key: str, userinfo: str) -> None:
    monkeypatch.setenv("HOOK_SECRET", "x")
    journal.write_config(CONFIG + section.format(url=f"https://{userinfo}@hub.test/"))
    with pytest.raises(ConfigError) as info:
        journal.config()
    text = str(info.value)
    assert f": {key}: " in text and "user name or password" in text and "\n" not in text, text
    assert PASSWORD not in text and "with@at" not in text, text


@pytest.mark.parametrize("old, new, key", [
    ("site_url: https://journal.test/", f"site_url: https://editor:{PASSWORD}@journal.test/", "journal.site_url"),
    ("feeds_url: https://journal.test/feeds/", f"feeds_url: https://{PASSWORD}@journal.test/feeds/",
     "journal.feeds_url"),
    ("  jmorton: {name: John Morton, affiliation: U.S. Immigration and Customs Enforcement}",
     f"  jmorton: {{name: John Morton, uri: 'https://jm:{PASSWORD}@people.test/jm'}}", "authors.jmorton.uri"),
])
def test_published_urls_of_the_journal_carry_no_user_name_or_password(journal: Journal, old: str, new: str,
                                                                      key: str) -> None:
    assert old in CONFIG
    journal.write_config(CONFIG.replace(old, new))
    with pytest.raises(ConfigError, match=rf": {re.escape(key)}: 'https://\*\*\*@") as info:
        journal.config()
    assert PASSWORD not in str(info.value)


@given(user=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
       password=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
       fault=st.sampled_from(["", " ", ":0", ":x", "/ bad", "[::1"]))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_config_message_repeats_a_password_in_a_url(journal: Journal, user: str, password: str,
                                                        fault: str) -> None:
    """Whatever else is wrong with the URL (spaces, a bad port, a broken IPv6 address), no message
    holds the password."""
    assume(not set("@/?#§") & set(user + password))  # else it is not a user name and password but a path
    password = f"§{password}§"  # no message holds a § of its own
    url = f"https://{user}:{password}@hub.test{fault}/"
    journal.write_config(CONFIG + "notify:\n  websub:\n    - " + json.dumps(url) + "\n")
    with pytest.raises(ConfigError) as info:
        journal.config()
    assert password not in str(info.value).replace(str(journal.config_path), ""), str(info.value)


def test_cli_refuses_a_hub_with_a_password_with_exit_2_and_publishes_nothing(journal: Journal) -> None:
    journal.post("p", title="A post")
    journal.write_config(CONFIG + f"notify:\n  websub: [https://pub:{PASSWORD}@hub.test/]\n")
    result = journal.cli("publish")
    assert result.returncode == 2, result
    assert "notify.websub" in result.stderr and result.stderr.count("\n") == 1
    assert PASSWORD not in result.stdout + result.stderr
    assert not journal.feeds.exists()


def test_import_refuses_a_url_with_a_password_and_a_redirect_to_one(journal: Journal, httpserver) -> None:
    """The URL an import reads is the base its posts' relative links (published) resolve against,
    and it is shown in messages: one with a user name or password is never fetched."""
    httpserver.expect_request("/moved.xml").respond_with_data(
        "", status=302, headers={"Location": f"http://editor:{PASSWORD}@127.0.0.1:{httpserver.port}/feed.xml"})
    for url in (f"http://editor:{PASSWORD}@127.0.0.1:{httpserver.port}/feed.xml",
                f"http://127.0.0.1:{httpserver.port}/moved.xml"):
        result = journal.cli("import", url)
        assert result.returncode == 1, result
        assert "user name or password" in result.stderr and result.stderr.count("\n") == 1, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        if "@" in url:
            assert httpserver.log == [], "a URL with a password was fetched"
    assert journal.cli("post", "list").stdout == ""  # nothing imported


def test_status_and_ping_never_show_a_password_queued_before_the_config_refused_them(
        journal: Journal, httpserver) -> None:
    """A store from before may hold notifications to a target with a password: it is given up
    unsent (no request carries the password), and status and the delivery's messages show the
    target without it."""
    from newswire.job import open_store
    from newswire.model import Notification

    httpserver.expect_request("/RPC2").respond_with_data("down", status=503)
    target = f"http://ping:{PASSWORD}@127.0.0.1:{httpserver.port}/RPC2"
    with open_store(journal.config()) as store:
        store.outbox.enqueue(Notification("weblogs", target, "https://journal.test/", {
            "name": "Test Journal", "site": "https://journal.test/", "changed": "https://journal.test/feeds/atom.xml",
            "rss": "https://journal.test/feeds/rss.xml"}), datetime.now(UTC))
    ping = journal.cli("ping", "--all")
    status = journal.cli("status")
    assert ping.returncode == 1 and "user name or password" in ping.stdout + ping.stderr, ping
    assert "failed" in status.stdout and "***@127.0.0.1" in status.stdout, status
    assert httpserver.log == [], "a request went to a target with a password"
    for result in (ping, status):
        assert PASSWORD not in result.stdout + result.stderr, result


def test_every_default_written_out_loads_as_the_default(journal: Journal) -> None:
    """Each setting's default, written into config.yaml as the README shows it, passes its own
    check and loads as the very value a config that leaves it out gets."""
    from dataclasses import MISSING

    from newswire.config import (
        FeedsConfig,
        JournalConfig,
        Limits,
        NotifyConfig,
        PathsConfig,
        ScheduleConfig,
        SyncConfig,
    )
    from newswire.settings import settings_of, written

    journal.write_config("journal: {title: T, site_url: 'https://j.test/'}\n")
    implicit = journal.config()
    sections = {"journal": JournalConfig, "feeds": FeedsConfig, "paths": PathsConfig, "notify": NotifyConfig,
                "schedule": ScheduleConfig, "fetch": Limits, "sync": SyncConfig}
    lines = []
    for name, kind in sections.items():
        lines.append(f"{name}:" + ("\n  title: T\n  site_url: 'https://j.test/'" if name == "journal" else ""))
        for f, s in settings_of(kind):
            if f.default not in (MISSING, None) and not s.derived:  # strings quoted: '*/15 * * * *' is no alias
                lines.append(f"  {f.name}: " + (json.dumps(f.default) if isinstance(f.default, str)
                                                else written(f.default, s.rule)))
    journal.write_config("\n".join(lines) + "\n")
    explicit = journal.config()
    assert len(lines) > 30  # every section, and most keys in it
    for name in sections:
        assert getattr(explicit, name) == getattr(implicit, name), name
