"""Load-test the voice webhook of a running server beside the bare-framework floor, in the same
run: signed Twilio voice webhooks, each with its own CallSid (so each one records a call and
opens an incident), sent first to the floor (bench/floor/floor.py: Django + uvicorn, one view
that checks the signature and answers static TwiML, no database), then to the server. Prints
each figure beside the floor's, the ratio and the goal.

Two modes:
- closed loop (default): C clients, each sending its next request when the last one is
  answered, N requests in all: throughput and latency under saturation;
- open loop (`--rate R`): a new call every 1/R s for `--duration` s whatever the answers, each
  latency counted from the instant it was due (so a server that falls behind shows it).

It starts the floor itself (`--floor-port`, same uvicorn options as the Procfile's web line)
unless `--floor-url` is given; the server under test is yours to start (bench/RESULTS.md), with
the same TWILIO_AUTH_TOKEN. Every request goes to a loopback address, and the run is bounded in
requests and in time.

    .venv/bin/python bench/webhook.py --url http://127.0.0.1:8300 --token benchtoken -n 2000 -c 50
    .venv/bin/python bench/webhook.py --url http://127.0.0.1:8300 --token benchtoken --rate 100
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from loopback import is_loopback  # bench/loopback.py (the script's own folder)
from twilio.request_validator import RequestValidator

VOICE_PATH = "/calls/twilio/voice/"
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 1_000
MAX_IN_FLIGHT = 2_000  # open loop: beyond this many unanswered calls the run counts overload
FLOOR_APP_DIR = Path(__file__).resolve().parent / "floor"

# Issue 12's goals.
GOAL_CLOSED_RATIO = 0.5
GOAL_CLOSED_P99_MS = 250
GOAL_OPEN_P99_MS = 50


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8300", help="the server under test")
    parser.add_argument(
        "--signed-base",
        default=None,
        help="the origin the server rebuilds the signed URL from (its PUBLIC_BASE_URL); "
        "default: --url",
    )
    parser.add_argument("--floor-url", default=None, help="a floor already running")
    parser.add_argument("--floor-port", type=int, default=8301, help="where to start the floor")
    parser.add_argument("--no-floor", action="store_true", help="measure the server only")
    parser.add_argument("--path", default=VOICE_PATH)
    parser.add_argument("-n", "--requests", type=int, default=2000, help="closed loop")
    parser.add_argument("-c", "--concurrency", type=int, default=50, help="closed loop")
    parser.add_argument("--rate", type=float, default=None, help="open loop: new calls a second")
    parser.add_argument("--duration", type=float, default=20.0, help="open loop: seconds")
    parser.add_argument("--warmup", type=int, default=100, help="requests before measuring")
    parser.add_argument(
        "--token",
        default=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        help="the server's TWILIO_AUTH_TOKEN (default: $TWILIO_AUTH_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="per request, seconds (Twilio gives 15)"
    )
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop a run after")
    parser.add_argument("--from-number", default="+628120000", help="caller id prefix")
    parser.add_argument(
        "--server-pid",
        type=int,
        default=None,
        help="the server's process id: adds its CPU time per request (from /proc), which other "
        "load on the machine inflates much less than it inflates latencies",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set TWILIO_AUTH_TOKEN")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be 1..{MAX_REQUESTS}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be 1..{MAX_CONCURRENCY}")
    if args.rate is not None and not (0 < args.rate <= 2000 and 0 < args.duration <= 600):
        parser.error("--rate must be in (0, 2000] and --duration in (0, 600]")
    if args.rate is not None and args.rate * args.duration > MAX_REQUESTS:
        parser.error(f"--rate × --duration must be at most {MAX_REQUESTS}")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    for url in (args.url, args.floor_url):
        if url is not None and not is_loopback(url):
            parser.error(f"{url} is not a loopback address: this tool only loads a local server")
    return args


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list; None for an empty one."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class Target:
    """One server's voice webhook: signed requests with fresh CallSids, and what came back."""

    def __init__(self, name, base_url, args, signed_base=None):
        self.name = name
        self.url = base_url.rstrip("/") + args.path
        self.signed_url = (signed_base or base_url).rstrip("/") + args.path
        self.validator = RequestValidator(args.token)
        self.run_id = secrets.token_hex(6)
        self.from_number = args.from_number
        self.count = 0

    def next_request(self):
        index = self.count
        self.count += 1
        params = {
            "CallSid": f"CA{self.run_id}{index:020d}",  # 34 characters, like Twilio's
            "AccountSid": "AC" + "0" * 32,
            "From": f"{self.from_number}{index % 100000:05d}",
            "To": "112",
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        signature = self.validator.compute_signature(self.signed_url, params)
        return params, {"X-Twilio-Signature": signature}


class Tally:
    def __init__(self):
        self.latencies = []
        self.errors = {}

    async def send(self, session, target, started=None):
        """One webhook; its latency counts from `started` (the instant it was due) if given."""
        params, headers = target.next_request()
        started = time.perf_counter() if started is None else started
        try:
            async with session.post(target.url, data=params, headers=headers) as response:
                body = await response.read()
                if response.status == 200 and b"<Response>" in body:
                    self.latencies.append(time.perf_counter() - started)
                    return
                key = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            key = type(exc).__name__
        self.errors[key] = self.errors.get(key, 0) + 1

    def summary(self, wall, planned):
        latencies = sorted(self.latencies)
        sent = len(latencies) + sum(self.errors.values())
        return {
            "requests": sent,
            "ok": len(latencies),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "seconds": round(wall, 3),
            "requests_per_second": round(sent / wall, 1) if wall else None,
            # Of the successful requests.
            "latency_ms": {
                name: None if (v := percentile(latencies, p)) is None else round(v * 1000, 1)
                for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
            },
            "incomplete": sent < planned,
        }


def new_session(args, limit):
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=args.timeout),
    )


async def warm_up(session, target, count):
    tally = Tally()
    for _ in range(count):
        await tally.send(session, target)


async def closed_loop(args, target):
    tally = Tally()
    deadline = time.monotonic() + args.max_seconds
    async with new_session(args, args.concurrency) as session:
        await warm_up(session, target, args.warmup)
        remaining = args.requests

        async def client():
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                await tally.send(session, target)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(args.concurrency)))
        wall = time.perf_counter() - started
    return tally.summary(wall, args.requests)


async def open_loop(args, target):
    tally = Tally()
    planned = int(args.rate * args.duration)
    async with new_session(args, 0) as session:
        await warm_up(session, target, args.warmup)
        in_flight = set()
        started = time.perf_counter()
        for index in range(planned):
            due = started + index / args.rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if len(in_flight) >= MAX_IN_FLIGHT:
                tally.errors["overload"] = tally.errors.get("overload", 0) + 1
                continue
            task = asyncio.create_task(tally.send(session, target, started=due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        wall = time.perf_counter() - started
    return tally.summary(wall, planned)


@contextlib.contextmanager
def floor_server(args):
    """The floor's URL and process id: the URL given (pid unknown), or a uvicorn started here
    (and stopped after)."""
    if args.no_floor:
        yield None, None
        return
    if args.floor_url:
        yield args.floor_url, None
        return
    uvicorn = Path(sys.executable).with_name("uvicorn")
    command = [
        str(uvicorn),
        "floor:application",
        "--app-dir",
        str(FLOOR_APP_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(args.floor_port),
        "--proxy-headers",
        "--forwarded-allow-ips=127.0.0.1",
    ]
    env = dict(os.environ, TWILIO_AUTH_TOKEN=args.token)
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{args.floor_port}"
    try:
        wait_until_listening(url, server)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=15)


def wait_until_listening(url, server, seconds=15):
    async def probe():
        async with aiohttp.ClientSession() as session, session.get(url + VOICE_PATH) as response:
            return response.status

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the floor server exited")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            asyncio.run(probe())
            return
        time.sleep(0.2)
    raise SystemExit("the floor server did not start")


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(run, args, target, pid):
    """`run`'s figures, with the server's CPU milliseconds per request when its pid is known.
    The warm-up is inside the CPU window: a small bias, the same for both servers."""
    before = cpu_seconds(pid) if pid else None
    result = asyncio.run(run(args, target))
    after = cpu_seconds(pid) if pid else None
    requests = result["requests"] + args.warmup
    result["server_cpu_ms_per_request"] = (
        round((after - before) * 1000 / requests, 2) if before is not None and after else None
    )
    return result


def measure(args):
    run = open_loop if args.rate else closed_loop
    results = {"mode": f"open loop, {args.rate:g} calls/s" if args.rate else "closed loop"}
    results["load_average_before"] = os.getloadavg()
    with floor_server(args) as (floor_url, floor_pid):
        if floor_url:
            results["floor"] = timed(run, args, Target("floor", floor_url, args), floor_pid)
    ours = Target("ours", args.url, args, args.signed_base)
    results["ours"] = timed(run, args, ours, args.server_pid)
    results["load_average_after"] = os.getloadavg()
    results["goal"] = goals(args, results)
    return results


def goals(args, results):
    ours, floor = results["ours"], results.get("floor")
    p99 = ours["latency_ms"]["p99"]
    if args.rate:
        return {
            "p99_ms": p99,
            "p99_goal_ms": GOAL_OPEN_P99_MS,
            "met": p99 is not None and p99 <= GOAL_OPEN_P99_MS and not ours["errors"],
        }
    ratio = None
    if floor and floor["requests_per_second"]:
        ratio = round(ours["requests_per_second"] / floor["requests_per_second"], 2)
    return {
        "throughput_ratio": ratio,
        "ratio_goal": GOAL_CLOSED_RATIO,
        "p99_ms": p99,
        "p99_goal_ms": GOAL_CLOSED_P99_MS,
        "met": ratio is not None
        and ratio >= GOAL_CLOSED_RATIO
        and p99 is not None
        and p99 <= GOAL_CLOSED_P99_MS
        and not ours["errors"],
    }


def print_table(args, results):
    print(f"voice webhook, {results['mode']}", end="")
    print(f", {args.concurrency} connections" if not args.rate else "")
    print("load average before {:.2f} {:.2f} {:.2f}".format(*results["load_average_before"]))
    columns = [("ours", results["ours"])]
    if "floor" in results:
        columns.insert(0, ("floor", results["floor"]))
    print(f"{'':14}" + "".join(f"{name:>12}" for name, _ in columns) + f"{'ratio':>10}")

    def row(label, value_of, ratio=False):
        values = [value_of(result) for _, result in columns]
        line = f"{label:14}" + "".join(f"{'-' if v is None else v:>12}" for v in values)
        if ratio and len(values) == 2 and values[0] and values[1] is not None:
            line += f"{values[1] / values[0]:>10.2f}"
        print(line)

    row("requests", lambda r: r["requests"])
    row("errors", lambda r: r["errors"])
    row("requests/s", lambda r: r["requests_per_second"], ratio=True)
    for name in ("p50", "p95", "p99", "max"):
        row(f"{name} ms", lambda r, name=name: r["latency_ms"][name], ratio=True)
    row("CPU ms/req", lambda r: r["server_cpu_ms_per_request"], ratio=True)
    for _, result in columns:
        if result["error_kinds"]:
            print(f"errors: {result['error_kinds']}")
    goal = results["goal"]
    if args.rate:
        print(f"goal          p99 ≤ {goal['p99_goal_ms']} ms at {args.rate:g} calls/s: ", end="")
    else:
        print(
            f"goal          ≥ {goal['ratio_goal']} of the floor's throughput "
            f"(got {goal['throughput_ratio']}), p99 ≤ {goal['p99_goal_ms']} ms: ",
            end="",
        )
    print("met" if goal["met"] else "NOT met")
    print("load average after  {:.2f} {:.2f} {:.2f}".format(*results["load_average_after"]))


def main(argv=None):
    args = parse_args(argv)
    results = measure(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(args, results)
    failed = any(results[name]["errors"] or results[name]["incomplete"] for name in ("ours",))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
