"""Issue 8, defect 8: `make run`'s runner killed with SIGKILL takes its server, worker, beat and
embedded Redis with it (they run in process sessions of their own, and used to outlive it).

The runner runs for real (scripts/devstack.py run) on SQLite and an embedded Redis under a
temporary directory, on free ports; every process it starts inherits a marker variable, which is
how the drill finds them in /proc — except Redis, which writes its title over its environment and
is found by its port instead."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PROCFILE_PROGRAMS = ("uvicorn", "worker", "beat", "redis-server")

pytestmark = [
    pytest.mark.drill,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"),
]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def drill_processes(env):
    """{pid: command line} of the live processes whose environment carries the drill's marker,
    and the embedded Redis on the drill's port."""
    found = {}
    needle = f"DEVSTACK_DRILL={env['DEVSTACK_DRILL']}".encode()
    redis_address = f"127.0.0.1:{env['EMBEDDED_REDIS_PORT']}"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            marked = needle in (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        is_redis = "redis-server" in command and redis_address in command
        if (marked or is_redis) and state != "Z":
            found[int(entry.name)] = command
    return found


def port_answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def runner_env(tmp_path, marker):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DEVSTACK_DRILL=marker,
        DEVSTACK_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        EMBEDDED_REDIS_PORT=str(free_port()),
        PORT=str(free_port()),
        HOST="127.0.0.1",
        CELERY_BEAT_SCHEDULE=str(tmp_path / "celerybeat-schedule"),
        DISPATCH_DEMO_ENV_FILE="",
        WORKER_CONCURRENCY="1",
    )
    return env


def test_a_runner_killed_with_sigkill_leaves_no_process_behind(tmp_path):
    env = runner_env(tmp_path, uuid.uuid4().hex)
    log = (tmp_path / "runner.log").open("wb")
    runner = subprocess.Popen(
        [sys.executable, "scripts/devstack.py", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def children():
        return {pid: cmd for pid, cmd in drill_processes(env).items() if pid != runner.pid}

    def all_started():
        commands = " ".join(children().values())
        return port_answers(int(env["PORT"])) and all(p in commands for p in PROCFILE_PROGRAMS)

    try:
        started = wait_until(all_started, 60)
        assert started, (tmp_path / "runner.log").read_text()[-3000:]
        before = children()
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=5)
        assert wait_until(lambda: not children(), 15), (before, children())
    finally:
        runner.kill()
        for pid in children():  # only the drill's own processes, if the fix failed
            os.kill(pid, signal.SIGKILL)
        log.close()
