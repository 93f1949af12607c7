"""Instructions per new voice call, for the server and for the bare-framework floor: each
started under valgrind's callgrind, warmed up, then counted over N signed webhooks sent one at
a time. An instruction count does not move with the machine's other load, where CPU seconds
and latencies do (bench/RESULTS.md), so two trees can be compared on a busy machine. It
leaves out what only concurrency costs (lock waits, the GIL, the publisher's batching), so it
sits beside bench/webhook.py, not in its place. Needs valgrind (Debian's package); each server
runs about 50 times slower under it.

    .venv/bin/python bench/instructions.py --token benchtoken            # ours and the floor
    .venv/bin/python bench/instructions.py --token benchtoken --tree /tmp/other-checkout

The server runs from `--tree` (default: this checkout) with the environment of the shell (its
DATABASE_URL, REDIS_URL, TWILIO_AUTH_TOKEN…), on loopback ports of its own.
"""

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import webhook  # bench/webhook.py (the script's own folder): the same signed requests

ROOT = Path(__file__).resolve().parent.parent
COLLECTED = re.compile(r"Collected : (\d+)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""))
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose server to count")
    parser.add_argument("--port", type=int, default=8390, help="the server's; the floor's is +1")
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=60)
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set TWILIO_AUTH_TOKEN")
    if not shutil.which("valgrind"):
        parser.error("valgrind is not installed (apt-get install valgrind)")
    return args


def uvicorn_command(app, port, *extra):
    uvicorn = Path(sys.executable).with_name("uvicorn")
    return [
        str(uvicorn),
        app,
        *extra,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--proxy-headers",
        "--forwarded-allow-ips=127.0.0.1",
    ]


async def send(url, args, count):
    shape = argparse.Namespace(token=args.token, path=webhook.VOICE_PATH, from_number="+628130")
    target = webhook.Target("counted", url, shape)
    tally = webhook.Tally()
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(count):
            await tally.send(session, target)
    if tally.errors:
        raise SystemExit(f"{url}: failed requests {tally.errors}")


def wait_until_listening(url, seconds=600):
    deadline = time.monotonic() + seconds

    async def probe():
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(url + "/healthz/"):
                        return
                except aiohttp.ClientError:
                    await asyncio.sleep(1)
        raise SystemExit(f"{url} did not start under valgrind")

    asyncio.run(probe())


def instructions_per_request(command, cwd, env, url, args):
    """Start `command` under callgrind, warm it up, count N requests, stop it."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "valgrind.log"
        valgrind = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder}/callgrind.out",
            f"--log-file={log}",
        ]
        server = subprocess.Popen(  # noqa: S603
            [*valgrind, *command],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_listening(url)
            asyncio.run(send(url, args, args.warmup))
            control = ["callgrind_control", "--instr=on", str(server.pid)]
            subprocess.run(control, check=True, capture_output=True)  # noqa: S603
            asyncio.run(send(url, args, args.requests))
            control[1] = "--instr=off"
            subprocess.run(control, check=True, capture_output=True)  # noqa: S603
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
        counted = COLLECTED.search(log.read_text())
        return int(counted.group(1)) / args.requests


def main(argv=None):
    args = parse_args(argv)
    env = dict(os.environ, TWILIO_AUTH_TOKEN=args.token)
    ours_url = f"http://127.0.0.1:{args.port}"
    floor_url = f"http://127.0.0.1:{args.port + 1}"
    floor_command = uvicorn_command(
        "floor:application", args.port + 1, "--app-dir", str(webhook.FLOOR_APP_DIR)
    )
    ours = instructions_per_request(
        uvicorn_command("dispatch.asgi:application", args.port), args.tree, env, ours_url, args
    )
    floor = instructions_per_request(floor_command, args.tree, env, floor_url, args)
    print(f"instructions per new voice call, {args.requests} sent one at a time")
    print(f"ours   {ours / 1e6:8.2f} M   ({args.tree})")
    print(f"floor  {floor / 1e6:8.2f} M")
    print(f"ratio  {ours / floor:8.2f}")


if __name__ == "__main__":
    main()
