"""A throwaway PostgreSQL server for the tests and the bench: Debian's postgresql-15 binaries, one
cluster in a temporary folder, reached only on a Unix socket in that folder, fsync off.

As root, initdb and the server run as the ``postgres`` user (the server refuses to run as root), in
a folder that user owns; anyone else runs them as themselves. Each test or bench run takes a fresh
database copied from a migrated template (``Cluster.fresh``), which is quick.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(os.environ.get("NEWSWIRE_PG_BIN", "/usr/lib/postgresql/15/bin"))
MISSING = f"no PostgreSQL server binaries in {BIN} (apt-get install postgresql-15)"
REQUIRED = os.environ.get("NEWSWIRE_POSTGRES_TESTS") == "required"  # CI: a missing server fails, not skips
SUPERUSER = "newswire"


def available() -> bool:
    return (BIN / "initdb").is_file() and (BIN / "pg_ctl").is_file()


@dataclass
class Cluster:
    folder: Path
    user: str | None  # the OS user the server runs as, when that is not us (we are root)
    names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.folder}"

    def _run(self, *args: str) -> None:
        subprocess.run([str(a) for a in args], check=True, capture_output=True, user=self.user, cwd=self.folder,
                       timeout=60)

    def sql(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement.encode())

    def fresh(self, prefix: str = "journal") -> str:
        """The URL of a new database holding a migrated, empty store."""
        name = f"{prefix}_{next(self.names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE template_newswire")
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([str(BIN / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True, user=self.user, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Cluster:
    """A new cluster, running, with the template database ``fresh`` copies made and migrated."""
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="newswire-pg-", dir="/tmp"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(folder, user)
    try:
        cluster._run(BIN / "initdb", "-D", folder / "data", "-U", SUPERUSER, "--auth=trust", "--no-sync",
                     "-E", "UTF8", "--locale=C")
        options = (f"-c listen_addresses='' -c unix_socket_directories={folder} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        cluster._run(BIN / "pg_ctl", "-D", folder / "data", "-o", options, "-l", folder / "log", "-w", "start")
        cluster.sql("CREATE DATABASE template_newswire")
        from newswire.store.postgres import PostgresStore

        PostgresStore(cluster.url("template_newswire")).close()
    except BaseException:
        cluster.stop()
        raise
    return cluster
