"""Real S3 servers on 127.0.0.1 for the tests, each started by the test that needs it: moto's
``ThreadedMotoServer`` (keeps metadata exactly) and ``rclone serve s3`` (a Go server storing files
on disk, which checks request signatures), behind a proxy that logs each request and can answer
503 or hold each PUT back a little."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

KEY, SECRET = "newswire-test-key", "newswire-test-secret"
BUCKET, PREFIX = "journal", "feeds/"
RCLONE = Path(sys.executable).parent / "rclone"


def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy keys from the environment, and nothing else of the AWS chain: no files, no instance role."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


# --- the servers, and a proxy in front of them -------------------------------------------------


@dataclass
class Proxy:
    """Forwards every request to ``upstream`` as it came (the signature covers the Host header), and
    logs it; answers 503 to the next ``fail`` PUTs, to every PUT of a key in ``refuse``, and holds
    each PUT back ``delay`` seconds."""

    upstream: int
    log: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    fail: int = 0
    refuse: set[str] = field(default_factory=set)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def puts(self) -> list[str]:
        return [urlsplit(target).path.removeprefix(f"/{BUCKET}/{PREFIX}") for method, target in self.log
                if method == "PUT" and urlsplit(target).path.startswith(f"/{BUCKET}/")]

    def lists(self) -> int:
        return sum(1 for method, target in self.log if method == "GET" and "list-type=2" in target)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        key = urlsplit(handler.path).path.removeprefix(f"/{BUCKET}/{PREFIX}")
        with self.lock:
            self.log.append((handler.command, handler.path))
            refused = handler.command == "PUT" and (self.fail > 0 or key in self.refuse)
            if handler.command == "PUT" and self.fail > 0:
                self.fail -= 1
        if handler.command == "PUT" and self.delay:
            time.sleep(self.delay)
        if refused:
            handler.send_response(503)
            payload = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=30)
        conn.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
        for name, value in handler.headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        reply = conn.getresponse()
        data = reply.read()
        handler.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
        conn.close()


def _serve_proxy(proxy: Proxy) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            proxy.answer(self)

        do_PUT = do_HEAD = do_DELETE = do_POST = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, "rclone serve s3 exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("rclone serve s3 did not listen within 15 s")


@dataclass
class Store:
    """A running S3 server with a bucket, the proxy before it, and a client that bypasses the proxy."""

    name: str
    proxy: Proxy
    client: Any

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def objects(self) -> dict[str, bytes]:
        keys = [item["Key"] for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                for item in page.get("Contents", ())]
        return {key.removeprefix(PREFIX): self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
                for key in keys}

    def head(self, path: str) -> dict[str, Any]:
        return dict(self.client.head_object(Bucket=BUCKET, Key=PREFIX + path))


def _moto() -> tuple[int, Any]:
    """A moto server on a port of its own, its state (global to this process) emptied first."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/moto-api/reset")
    assert conn.getresponse().status == 200
    conn.close()
    return port, server.stop


def _client(port: int) -> Any:
    return boto3.session.Session().client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                          config=BotoConfig(s3={"addressing_style": "path"}))


@contextmanager
def server(kind: str, tmp_path: Path) -> Iterator[Store]:
    """A real S3 server of this kind on 127.0.0.1, with the bucket, behind a counting proxy."""
    if kind == "moto":
        port, stop = _moto()
    else:
        port = _free_port()
        (tmp_path / "rclone" / BUCKET).mkdir(parents=True)
        proc = subprocess.Popen([str(RCLONE), "serve", "s3", "--addr", f"127.0.0.1:{port}", "--auth-key",
                                 f"{KEY},{SECRET}", "--etag-hash", "MD5", "--config", str(tmp_path / "rclone.conf"),
                                 str(tmp_path / 'rclone')], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(port, proc)

        def stop() -> None:
            proc.terminate()
            proc.wait(10)
    client = _client(port)
    if kind == "moto":
        client.create_bucket(Bucket=BUCKET)
    proxy = Proxy(port)
    front = _serve_proxy(proxy)
    try:
        yield Store(kind, proxy, client)
    finally:
        front.shutdown()
        stop()
