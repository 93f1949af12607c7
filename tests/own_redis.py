"""A redis-server of a test's own, on a free port: to kill, restart or pause without touching
the Redis the rest of the suite (or a running `make run`) uses."""

import shutil
import socket
import subprocess
import time

import pytest
import redis


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    def __init__(self):
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(port=self.port)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self):
        """SIGKILL: no chance to save or say goodbye."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.kill()
