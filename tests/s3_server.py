"""A real S3-compatible HTTP server on 127.0.0.1 (moto's), one per test session, and the standard
AWS variables that point pmpm, boto3 and py-rattler at it. Each test takes its own bucket."""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass

import pytest

_buckets = itertools.count()


@dataclass
class S3Server:
    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_CONFIG_FILE": os.devnull,  # no profile of the machine's may interfere
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def bucket(self) -> str:
        name = f"team-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    moto_server = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed (pip install 'moto[server]')"
    )
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()
