"""An S3-compatible bucket as a sink (AWS S3, Cloudflare R2, GCS's S3 API, MinIO, Ceph ...).

A CDN serves the bucket; newswire puts each verified document with one PUT (a PUT
replaces an object whole, so readers see the old bytes or the new, never a mix), with
its media type, its Cache-Control and its length, and the ETag the store answers with
is recorded with it.

What is in the bucket is taken from the store's record of what was put, not asked of
the bucket: a document whose bytes are as recorded is not put again, with no request at
all. Each record carries a version mark (``Placed.mtime_ns``) naming the endpoint,
bucket and prefix it was put to, so a record from another destination (or from a folder
on disk, which has no ETag) is not taken for an object here. ``verify`` lists the bucket
(one LIST a thousand objects) and compares each object's ETag with the recorded one; the
store then forgets the ETag of each document that drifted (``DocumentStore.distrust``),
so the next publish puts it again.

Credentials come from the standard AWS chain (environment, shared credentials file,
instance role), never from the config. Uploads run on a bounded pool of threads in each
process, and botocore retries each request with backoff on 5xx, throttling and timeouts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ..config import Bucket, OutputConfig
from ..errors import NewswireError, UsageError
from ..model import DocumentState
from ..writer import digest
from . import Document, Placed, Refused

_CLIENTS: dict[tuple[int, str], Any] = {}  # one client per process (workers are forked) and destination
_CLIENTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class S3:
    """Documents as objects under ``bucket``'s prefix; ``recorded`` is what the store says was put,
    and ``listing`` (key below the prefix → ETag) what a LIST found, for ``verify``."""

    bucket: Bucket
    settings: OutputConfig
    recorded: Mapping[str, DocumentState]
    listing: Mapping[str, str] | None = None

    @classmethod
    def open(cls, bucket: Bucket, settings: OutputConfig, recorded: Mapping[str, DocumentState], *,
             survey: bool = False) -> S3:
        """The sink, once the bucket answers (a missing bucket or refused credentials are the
        operator's to fix: exit 2, before anything is rendered); with ``survey``, what is there listed."""
        sink = cls(bucket, settings, recorded)
        try:
            sink._client().head_bucket(Bucket=bucket.name)
            if survey:
                return cls(bucket, settings, recorded, sink._list())
        except NoCredentialsError:
            raise UsageError(f"{bucket}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                             "a shared credentials file or an instance role; never in config.yaml)") from None
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if status == 404 or code in ("404", "NoSuchBucket"):
                raise UsageError(f"{bucket}: no such bucket at {sink._endpoint} (create it, or correct "
                                 "paths.output)") from None
            if status in (400, 401, 403) or code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise UsageError(f"{bucket}: the store refused the credentials ({status} {code}): check "
                                 "the AWS credentials and that they may write the bucket") from None
            raise NewswireError(f"{bucket}: {_trouble(exc)}") from None
        except BotoCoreError as exc:
            raise NewswireError(f"{bucket}: {_trouble(exc)}") from None
        return sink

    @property
    def records(self) -> bool:
        return True

    @property
    def mark(self) -> int:
        """The version mark of what this sink puts: its destination, as a 63-bit number."""
        where = hashlib.sha256(f"{self._endpoint}\n{self.bucket.name}\n{self.bucket.prefix}".encode()).digest()
        return int.from_bytes(where[:8], "big") >> 1

    @property
    def _endpoint(self) -> str:
        return self.settings.endpoint_url or "AWS S3"

    def recover(self) -> None:
        """Nothing: each PUT is whole, and what a killed publish put is put again (unrecorded)."""

    def put(self, documents: Sequence[Document]) -> list[Placed | Refused]:
        results: list[Placed | Refused | None] = []
        uploads: list[tuple[int, Document, str]] = []
        for doc in documents:
            sha = digest(doc.data)
            state = self.recorded.get(doc.path)
            if state is not None and state.sha256 == sha and self.as_recorded(state):
                results.append(Placed(doc.path, sha, len(doc.data), self.mark, False, state.etag))
            else:
                uploads.append((len(results), doc, sha))
                results.append(None)
        if uploads:
            with ThreadPoolExecutor(min(self.settings.concurrency, len(uploads))) as pool:
                for (i, _, _), result in zip(uploads, pool.map(lambda job: self._upload(*job[1:]), uploads)):
                    results[i] = result
        return [r for r in results if r is not None]

    def _upload(self, doc: Document, sha: str) -> Placed | Refused:
        md5 = hashlib.md5(doc.data, usedforsecurity=False)
        try:
            answer = self._client().put_object(
                Bucket=self.bucket.name, Key=self.bucket.prefix + doc.path, Body=doc.data,
                ContentType=doc.media_type, ContentLength=len(doc.data),
                CacheControl=self.settings.archive_cache_control if doc.lasting else self.settings.cache_control,
                ContentMD5=base64.b64encode(md5.digest()).decode())
        except (BotoCoreError, ClientError) as exc:
            return Refused(doc.path, f"{self.bucket}{doc.path}: not published: {_trouble(exc)}")
        etag = str(answer.get("ETag") or "").strip('"') or md5.hexdigest()
        return Placed(doc.path, sha, len(doc.data), self.mark, True, etag)

    def digest(self, path: str) -> str | None:
        """The recorded SHA-256 if the object is there as recorded; else None if it is missing, or
        its ETag (which is no SHA-256) if it is not as recorded."""
        state = self.recorded.get(path)
        if self.listing is not None and path in self.listing and (state is None or not self.as_recorded(state)):
            return "etag:" + self.listing[path]
        return state.sha256 if state is not None and self.as_recorded(state) else None

    def as_recorded(self, state: DocumentState) -> bool:
        """Put here with the recorded ETag (by the record alone, unless a LIST has shown what is there)."""
        if state.etag is None or state.mtime_ns != self.mark:
            return False
        return self.listing is None or self.listing.get(state.path) == state.etag

    def remove(self, path: str) -> str | None:
        try:
            self._client().delete_object(Bucket=self.bucket.name, Key=self.bucket.prefix + path)
        except (BotoCoreError, ClientError) as exc:
            return f"{self.bucket}{path}: not removed: {_trouble(exc)}"
        return None

    def _list(self) -> dict[str, str]:
        """Every object below the prefix and its ETag, a thousand a request."""
        out: dict[str, str] = {}
        pages = self._client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket.name, Prefix=self.bucket.prefix, PaginationConfig={"PageSize": 1000})
        for page in pages:
            for item in page.get("Contents", ()):
                out[item["Key"].removeprefix(self.bucket.prefix)] = str(item.get("ETag", "")).strip('"')
        return out

    def _client(self) -> Any:
        """This process's client for the destination (a forked worker makes its own)."""
        key = (os.getpid(), f"{self._endpoint}\n{self.settings}")
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                s = self.settings
                client = _CLIENTS[key] = boto3.session.Session().client(
                    "s3", endpoint_url=s.endpoint_url, region_name=s.region,
                    config=BotoConfig(retries={"mode": "standard", "max_attempts": s.attempts},
                                      connect_timeout=s.timeout, read_timeout=s.timeout,
                                      max_pool_connections=s.concurrency,
                                      s3={"addressing_style": s.addressing_style or "auto"}))
            return client


def _trouble(exc: Exception) -> str:
    """What went wrong with a request, in one line."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        return f"{status} {error.get('Code', '')} {error.get('Message', '')}".strip()
    return str(exc)
