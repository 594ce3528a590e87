"""A conda channel in S3 or an S3-compatible store (MinIO, Ceph): a team's channel and binary cache.

Layout: `s3://BUCKET/PREFIX/<subdir>/<package>` with repodata written by py-rattler's S3
indexer, so conda, mamba, pixi and rattler read it as any channel; beside it
`PREFIX/.pmpm/fingerprints/<digest>.json` maps a build's fingerprint (see
`pmpm.builder.fingerprint`) to the package it produced, with its sha256 and size.

Credentials, region and endpoint come from the standard AWS chain (AWS_ACCESS_KEY_ID,
AWS_PROFILE, AWS_ENDPOINT_URL, ~/.aws/config, instance roles), resolved by boto3 once and
handed to py-rattler's indexer; no secret is ever printed.

Concurrent publishers need no lock. A package is uploaded with `If-None-Match: *`, so it never
replaces another publisher's file unseen. An S3 PUT is atomic: a publisher killed mid-upload
leaves no object, or a whole one. The repodata is rewritten by the indexer from a listing of
the subdir, each write conditional on the ETag it read (py-rattler's precondition checks); a
write that loses that race is retried from a fresh listing. So the last successful index lists
every package uploaded before it, including one whose publisher died before indexing: the
next publish repairs it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import network, user_cache
from ..errors import ChannelError, InputError, first_line, say
from ..files import replacing
from ..options import S3_SCHEME, s3_url
from .layout import SUBDIRS

RECORDS = ".pmpm/fingerprints"
INDEX_ATTEMPTS = 6  # a conditional repodata write lost to another publisher is retried from a new listing
POLICY = "s3:ListBucket, s3:GetObject and s3:PutObject"
NO_CREDENTIALS = "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"


@dataclass(frozen=True)
class Entry:
    """A package in the channel as its fingerprint record describes it."""

    file: str  # "<subdir>/<file name>"
    sha256: str
    size: int


class _Unusable(Exception):
    """A cached package that cannot be used: missing, or not what its record promises."""


class S3Channel:
    """One `s3://BUCKET[/PREFIX]` channel; the connection is made on first use."""

    def __init__(self, url: str, say: Callable[[str], None] = say):
        try:
            self.url = s3_url(url)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        self.bucket, _, self.prefix = self.url.removeprefix(S3_SCHEME).partition("/")
        self.say = say
        self._session: Any = None
        self._client: Any = None

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    @property
    def path(self) -> str:  # what messages name, as LocalChannel's path
        return self.url

    @property
    def mirror(self) -> Path:
        """The local channel builds publish into before pushing here: per host, so nodes that
        share a home directory never share (or lock) one."""
        return user_cache("s3", socket.gethostname(), self.bucket, *self.prefix.split("/"))

    def exists(self) -> bool:
        self.check()
        return True

    def packages(self) -> dict[str, dict]:
        """Repodata records by "<subdir>/<file>", as `LocalChannel.packages`."""
        records: dict[str, dict] = {}
        for subdir in SUBDIRS:
            with self._errors("read"):
                try:
                    body = self.client.get_object(Bucket=self.bucket, Key=self.key(subdir, "repodata.json"))["Body"]
                except self.client.exceptions.NoSuchKey:
                    continue
                data = json.loads(body.read())
            for key in ("packages", "packages.conda"):
                records.update({f"{subdir}/{name}": record for name, record in data.get(key, {}).items()})
        return records

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3  # ~150 ms: only runs that use S3 pay it
                from botocore.config import Config
            except ImportError:
                raise ChannelError(f"{self.url}: S3 channels need boto3 (pip install 'pmpm[s3]')") from None

            config = Config(
                connect_timeout=network.timeout(),
                read_timeout=network.timeout(),
                retries={"max_attempts": network.RETRIES, "mode": "standard"},
            )
            with self._errors("connect to"):
                self._session = boto3.session.Session()
                self._client = self._session.client("s3", config=config)
        return self._client

    @property
    def endpoint(self) -> str:
        return str(self.client.meta.endpoint_url)

    def check(self) -> None:
        """The bucket exists and these credentials may list it: said at once, before any build."""
        with self._errors("open"):
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(RECORDS) + "/", MaxKeys=1)

    def ensure(self) -> None:
        """Usable as a channel before its first package: conda clients need noarch's repodata."""
        self.check()
        with self._errors("open"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key("noarch", "repodata.json"))
                return
            except self.client.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                    raise
        self.index()

    def lookup(self, digest: str) -> Entry | None:
        """The package built from the inputs whose fingerprint is `digest`, if one was published."""
        with self._errors("read"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.key(RECORDS, f"{digest}.json"))["Body"]
            except self.client.exceptions.NoSuchKey:
                return None
            text = body.read()
        try:  # a record is data from the bucket: never trusted to be well-formed, nor a path outside the channel
            record = json.loads(text)
            subdir, _, name = str(record["file"]).partition("/")
            if subdir not in SUBDIRS or not name.endswith((".conda", ".tar.bz2")) or "/" in name or name[0] == ".":
                raise ValueError(f"it names {record['file']!r}")
            return Entry(f"{subdir}/{name}", str(record["sha256"]), int(record["size"]))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            self.say(f"{self.url}: the fingerprint record {digest}.json is not one pmpm wrote ({exc}); ignored")
            return None

    def fetch(self, entry: Entry, into: Path) -> Path | None:
        """Download `entry`'s package to `into/<subdir>/`, or None (with a warning) when the file
        is missing or is not what its record promises: the caller builds it instead."""
        target = into / entry.file
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._errors("download from"), replacing(target) as tmp:
                self._download(entry, tmp)
        except _Unusable as exc:
            self.say(f"{self.url}/{entry.file}: {exc}; building it instead")
            return None
        return target

    def _download(self, entry: Entry, to: Path) -> None:
        digest, size = hashlib.sha256(), 0
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(entry.file))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise _Unusable("named by a fingerprint record but missing") from None
        with to.open("wb") as out:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if (digest.hexdigest(), size) != (entry.sha256, entry.size):
            raise _Unusable(
                f"sha256 {digest.hexdigest()} ({size} bytes) is not the {entry.sha256} ({entry.size} bytes) "
                "its record promises (replaced by a build from other inputs, or damaged)"
            )

    def upload(self, path: Path, subdir: str, digest: str, sha256: str) -> None:
        """Publish one package file and its fingerprint record (not yet indexed: see `index`)."""
        key = self.key(subdir, path.name)
        with self._errors("upload to"):
            if not self._put_new(key, path, sha256, digest):
                return
            record = {"file": f"{subdir}/{path.name}", "sha256": sha256, "size": path.stat().st_size}
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key(RECORDS, f"{digest}.json"),
                Body=json.dumps(record).encode(),
                ContentType="application/json",
            )

    def _put_new(self, key: str, path: Path, sha256: str, digest: str) -> bool:
        """Upload `path` to `key`; whether the channel's file is now this package. A file of the
        same name from other inputs is replaced (the newest build of a name is the channel's; the
        older record no longer matches and its next lookup rebuilds), but only if it is still the
        file read here: a concurrent publisher's newer file is kept."""
        from botocore.exceptions import ClientError

        metadata = {"sha256": sha256, "pmpm-fingerprint": digest}
        condition: dict[str, str] = {"IfNoneMatch": "*"}
        for _ in range(2):
            try:
                with path.open("rb") as body:
                    self.client.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata, **condition)
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "PreconditionFailed":
                    raise
            there = self.client.head_object(Bucket=self.bucket, Key=key)
            if there.get("Metadata", {}).get("sha256") == sha256:
                return True
            condition = {"IfMatch": there["ETag"]}
        self.say(f"{S3_SCHEME}{self.bucket}/{key}: another publisher replaced it meanwhile; kept theirs")
        return False

    def index(self) -> None:
        """Re-index with py-rattler's S3 indexer: repodata.json (and .zst, shards) for conda and mamba."""
        import asyncio

        from rattler.index import index_s3

        credentials = self.credentials()
        for attempt in range(INDEX_ATTEMPTS):
            try:
                asyncio.run(index_s3(self.url, credentials=credentials, precondition_checks=True))
                return
            except Exception as exc:  # rattler's errors are untyped: a lost conditional write, or a real failure
                if attempt == INDEX_ATTEMPTS - 1 or "precondition" not in str(exc).lower():
                    raise ChannelError(
                        f"{self.url}: re-indexing at {self.endpoint} failed: {first_line(exc)} "
                        f"(check the endpoint and that the credentials allow {POLICY})"
                    ) from None
                time.sleep(0.2 * 2**attempt)

    def credentials(self) -> Any:
        """What boto3 resolved (profile, variables, role), in py-rattler's terms."""
        from rattler.index import S3Credentials

        endpoint = self.endpoint  # makes the session
        with self._errors("read credentials for"):
            found = self._session.get_credentials()
            frozen = found.get_frozen_credentials() if found is not None else None
        if frozen is None:
            raise ChannelError(f"cannot index {self.url}: {NO_CREDENTIALS}")
        aws = endpoint.split("//")[-1].split("/")[0].endswith("amazonaws.com")
        return S3Credentials(
            endpoint_url=endpoint,
            region=self.client.meta.region_name or "us-east-1",
            access_key_id=frozen.access_key,
            secret_access_key=frozen.secret_key,
            session_token=frozen.token,
            addressing_style="virtual-host" if aws else "path",  # MinIO and Ceph serve path-style
        )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """botocore's failures as one line naming the channel and what to check (exit 1)."""
        from botocore import exceptions as boto

        try:
            yield
        except boto.ClientError as exc:
            error = exc.response.get("Error", {})
            raise ChannelError(f"cannot {doing} {self.url}: {_explain(str(error.get('Code', '')), self)}") from None
        except (boto.NoCredentialsError, boto.PartialCredentialsError):
            raise ChannelError(f"cannot {doing} {self.url}: {NO_CREDENTIALS}") from None
        except (boto.EndpointConnectionError, boto.ConnectTimeoutError, boto.ReadTimeoutError) as exc:
            raise ChannelError(
                f"cannot {doing} {self.url}: no answer from {getattr(exc, 'kwargs', {}).get('endpoint_url', 'the endpoint')} "
                "(check AWS_ENDPOINT_URL or the profile's endpoint_url, and the network)"
            ) from None
        except boto.BotoCoreError as exc:
            raise ChannelError(f"cannot {doing} {self.url}: {first_line(exc)}") from None


def _explain(code: str, channel: S3Channel) -> str:
    if code in ("NoSuchBucket", "404"):
        return f"no such bucket {channel.bucket!r} at {channel.endpoint} (check the name and AWS_ENDPOINT_URL, or create it)"
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return f"access denied (the credentials need {POLICY} on the bucket; check AWS_PROFILE and the bucket policy)"
    if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"):
        return "the AWS credentials have expired (renew them, e.g. `aws sso login`, and run again)"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"):
        return "the endpoint refused these credentials (check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
    return f"the endpoint answered {code or 'an error'} (check the URL, AWS_ENDPOINT_URL and the credentials)"
