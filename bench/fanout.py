"""Measure the dashboard WebSocket's fan-out on a running server: N clients logged in as one
command-centre account, then R events, each timed from just before its trigger to its arrival
at every client. Prints connect time, and p50/p99 of the per-event "last client received"
latency and of every client's latency.

It starts nothing: run the server yourself (see bench/RESULTS.md). It connects to loopback
addresses only, and is bounded in clients (--clients), events (--rounds) and time
(--max-seconds, and --event-timeout per event).

    .venv/bin/python bench/fanout.py --url http://127.0.0.1:8200 \\
        --username operator1 --password "$DEMO_PASSWORD" --clients 500 --rounds 20

Each event is one incident created through the REST API (`--trigger create`: the server
records `incident.created` and publishes it after commit), or one edit of the same incident's
description (`--trigger patch`: `incident.updated`). The description is unique to the run and
the event, so a client's envelope for it is the one of that type whose incident carries that
description; events run one at a time.

With `--floor-url` (a `bench/fanout_floor.py` server: bare Channels on the same channel layer
settings and uvicorn flags), the same run then does the same against the floor: N sockets
joined to one group, R times one group send of a pre-made envelope of the same size (the last
one our server sent, with that event's description), and prints both side by side with their
ratio and the goal (--goal-p99-ms, the last socket's p99).

The clients share the machine with the server: on a small machine their own work (receiving
and parsing N frames) is part of the figures. Each arrival is timestamped before parsing.
"""

import argparse
import asyncio
import gc
import json
import math
import os
import resource
import secrets
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
from loopback import is_loopback  # bench/loopback.py (the script's own folder)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

MAX_CLIENTS = 5_000
MAX_ROUNDS = 1_000
WS_PATH = "/ws/dashboard/"
TRIGGER_EVENT = {"create": "incident.created", "patch": "incident.updated"}
# File descriptors beyond one per client: stdio, the HTTP client, the event loop, slack.
SPARE_FDS = 64


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--username", default="operator1", help="a command-centre account")
    parser.add_argument(
        "--password",
        default=os.environ.get("DEMO_PASSWORD", ""),
        help="its password (default: $DEMO_PASSWORD)",
    )
    parser.add_argument("-n", "--clients", type=int, default=500)
    parser.add_argument("-r", "--rounds", type=int, default=20, help="events to time")
    parser.add_argument("--trigger", choices=sorted(TRIGGER_EVENT), default="create")
    parser.add_argument(
        "--warmup", type=int, default=1, help="events sent first and not counted (default 1)"
    )
    parser.add_argument(
        "--connect-concurrency", type=int, default=50, help="handshakes in flight at once"
    )
    parser.add_argument(
        "--pause", type=float, default=0.2, help="seconds between one event and the next"
    )
    parser.add_argument(
        "--event-timeout", type=float, default=15.0, help="per event, seconds, then count misses"
    )
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop the run after")
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate (browsers offer it, and uvicorn accepts)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=0,
        help="before the events, hold the sockets open and idle this long, and report the "
        "server's CPU for it (the heartbeats' cost; needs --server-pid)",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        default=None,
        help="also report the CPU seconds this (local) server process spent during the events "
        "and the connects: a figure that other load on the machine does not inflate",
    )
    parser.add_argument(
        "--floor-url", default=None, help="a bench/fanout_floor.py server to measure after ours"
    )
    parser.add_argument("--floor-pid", type=int, default=None, help="its pid, for its CPU time")
    parser.add_argument(
        "--goal-p99-ms", type=float, default=250.0, help="the goal for the last socket's p99"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.password:
        parser.error("no password: pass --password or set DEMO_PASSWORD")
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS}")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1..{MAX_ROUNDS}")
    if not 1 <= args.connect_concurrency <= 1000:
        parser.error("--connect-concurrency must be 1..1000")
    if not 0 <= args.pause <= 60 or not 0 < args.event_timeout <= 120:
        parser.error("--pause must be in [0, 60] and --event-timeout in (0, 120]")
    if not 0 <= args.idle_seconds <= 600:
        parser.error("--idle-seconds must be in [0, 600]")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    for url in filter(None, (args.url, args.floor_url)):
        if not is_loopback(url):
            parser.error(f"{url} is not a loopback address: this tool only loads a local server")
    return args


def raise_fd_limit(clients):
    """One socket per client: lift the soft RLIMIT_NOFILE up to the hard limit if needed.
    Returns the soft limit now in force."""
    needed = clients + SPARE_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            sys.exit(
                f"{clients} clients need {needed} file descriptors; the hard limit is {hard} "
                "(raise it with `ulimit -Hn` as root, or use fewer --clients)"
            )
        soft = needed
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def cpu_seconds(pid):
    """User + system CPU time of a local process (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_since(pid, before):
    now = cpu_seconds(pid)
    return None if now is None or before is None else round(now - before, 2)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def ms(seconds):
    return round(seconds * 1000, 1) if not math.isnan(seconds) else None


def spread(values):
    ordered = sorted(values)
    return {
        "p50": ms(percentile(ordered, 50)),
        "p99": ms(percentile(ordered, 99)),
        "max": ms(percentile(ordered, 100)),
    }


def websocket_url(url):
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, WS_PATH, "", ""))


class Client:
    """One dashboard: its socket, and when it heard each event it was waiting for."""

    def __init__(self, run):
        self.run = run
        self.websocket = None
        self.hello = None
        self.connect_seconds = None
        self.reader = None

    async def open(self, ws_url, headers, origin, compression):
        started = time.perf_counter()
        self.websocket = await connect(
            ws_url,
            origin=origin,
            additional_headers=headers,
            compression=compression,
            proxy=None,  # loopback, never through a proxy from the environment
            open_timeout=30,
            ping_interval=None,  # like a browser: answer the server's pings, send none
            max_queue=None,  # the reader drains at once; never push back on the server
        )
        self.hello = json.loads(await asyncio.wait_for(self.websocket.recv(), 30))
        if self.hello.get("type") != "hello":
            raise RuntimeError(f"first message is not a hello: {self.hello}")
        self.connect_seconds = time.perf_counter() - started
        self.reader = asyncio.create_task(self.read())

    async def read(self):
        try:
            async for raw in self.websocket:
                arrived = time.perf_counter()  # before parsing: the client's own cost stays out
                self.run.arrived(self, arrived, raw)
        except ConnectionClosed:
            self.run.dropped += 1


class Run:
    """Matches arrivals to the event being timed and keeps the figures."""

    def __init__(self, event_type):
        self.event_type = event_type
        self.description = None  # of the event being timed; None between events
        self.heard = {}  # client -> (arrival, envelope) for the current event
        self.changed = asyncio.Event()
        self.other_messages = 0
        self.dropped = 0
        self.sample = None  # an envelope heard, for the floor to send one of the same size

    def arrived(self, client, arrived, raw):
        if self.description is None or client in self.heard:
            self.other_messages += 1
            return
        message = json.loads(raw)
        incident = (message.get("data") or {}).get("incident") or {}
        if (
            message.get("event") == self.event_type
            and incident.get("description") == self.description
        ):
            self.heard[client] = (arrived, message)
            self.sample = message
            self.changed.set()
        else:
            self.other_messages += 1

    def start(self, description):
        self.heard = {}
        self.description = description
        return time.perf_counter()

    def stop(self):
        self.description = None


def progress(text):
    print(text, file=sys.stderr, flush=True)


async def obtain_token(http, args):
    response = await http.post(
        "/api/v1/auth/token/", json={"username": args.username, "password": args.password}
    )
    if response.status_code != 200:
        sys.exit(f"login as {args.username} failed: HTTP {response.status_code} {response.text}")
    return response.json()["token"]


async def trigger(http, args, text, incident_id):
    """Make the server record and publish one event; returns the incident id it is about."""
    if args.trigger == "create":
        response = await http.post("/api/v1/incidents/", json={"description": text})
        expected = 201
    else:
        response = await http.patch(f"/api/v1/incidents/{incident_id}/", json={"description": text})
        expected = 200
    if response.status_code != expected:
        raise RuntimeError(f"trigger failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()["id"]


class Ours:
    """The real server: clients sign in with a token, events come from the REST API."""

    label = "ours"

    def __init__(self, args):
        self.args = args
        self.url = args.url
        self.pid = args.server_pid
        self.incident_id = None

    async def prepare(self, http, run_id):
        """Sign in; returns the sockets' extra headers."""
        token = await obtain_token(http, self.args)
        http.headers["Authorization"] = f"Token {token}"
        if self.args.trigger == "patch":
            self.incident_id = await trigger(http, self.args, f"fan-out bench {run_id}", None)
        return {"Authorization": f"Token {token}"}

    async def fire(self, http, text):
        return await trigger(http, self.args, text, self.incident_id)


class Floor:
    """bench/fanout_floor.py: no sign-in; each event is one group send of `sample`, an envelope
    our server sent, carrying this event's description."""

    label = "floor"

    def __init__(self, args, sample):
        self.url = args.floor_url
        self.pid = args.floor_pid
        self.sample = sample

    async def prepare(self, http, run_id):
        return {}

    async def fire(self, http, text):
        envelope = json.loads(json.dumps(self.sample))
        envelope["data"]["incident"]["description"] = text
        response = await http.post("/trigger", content=json.dumps(envelope))
        if response.status_code != 204:
            raise RuntimeError(f"floor trigger failed: HTTP {response.status_code}")
        return envelope["incident"]


async def wait_for_everyone(run, clients, timeout):
    """Until every client heard the event being timed, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if len(run.heard) >= clients:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        run.changed.clear()
        try:
            await asyncio.wait_for(run.changed.wait(), remaining)
        except TimeoutError:
            return False


async def connect_all(args, url, ws_url, headers, run):
    compression = None if args.no_compression else "deflate"
    limit = asyncio.Semaphore(args.connect_concurrency)
    clients = [Client(run) for _ in range(args.clients)]

    async def open_one(client):
        async with limit:
            await client.open(ws_url, headers, url.rstrip("/"), compression)

    started = time.perf_counter()
    results = await asyncio.gather(*(open_one(c) for c in clients), return_exceptions=True)
    wall = time.perf_counter() - started
    progress(f"{len(clients)} clients connected in {wall:.1f} s")
    failures = [r for r in results if isinstance(r, BaseException)]
    return clients, failures, wall


async def close_all(clients):
    async def close_one(client):
        if client.reader:
            client.reader.cancel()
        if client.websocket:
            await client.websocket.close()

    await asyncio.gather(*(close_one(c) for c in clients), return_exceptions=True)


async def warm_up(args, target, http, run, clients, run_id):
    """Events that are not counted: the first after start-up pays for what a server does once
    (code paths run for the first time, caches filled), which is not the fan-out."""
    for index in range(args.warmup):
        await asyncio.sleep(args.pause)
        run.start(f"fan-out bench {run_id}, warm-up {index + 1}")
        await target.fire(http, f"fan-out bench {run_id}, warm-up {index + 1}")
        await wait_for_everyone(run, clients, args.event_timeout)
        run.stop()


async def measure(args, target):
    fd_soft_limit = raise_fd_limit(args.clients)
    ws_url = websocket_url(target.url)
    run = Run(TRIGGER_EVENT[args.trigger])
    async with httpx.AsyncClient(
        base_url=target.url.rstrip("/"), timeout=30, trust_env=False
    ) as http:
        run_id = secrets.token_hex(4)
        headers = await target.prepare(http, run_id)
        progress(f"{target.label}: {target.url}")

        cpu_before_connect = cpu_seconds(target.pid)
        clients, failures, connect_wall = await connect_all(args, target.url, ws_url, headers, run)
        try:
            if failures:
                kinds = sorted({type(f).__name__ + ": " + str(f)[:120] for f in failures})
                raise RuntimeError(f"{len(failures)} of {args.clients} clients failed: {kinds}")
            connect_cpu = cpu_since(target.pid, cpu_before_connect)
            await asyncio.sleep(1)  # let the last handshakes' stragglers settle
            idle_cpu = None
            if args.idle_seconds:
                cpu_before_idle = cpu_seconds(target.pid)
                await asyncio.sleep(args.idle_seconds)
                idle_cpu = cpu_since(target.pid, cpu_before_idle)
                progress(f"idle for {args.idle_seconds} s: server CPU {idle_cpu} s")
            await warm_up(args, target, http, run, len(clients), run_id)
            # The client's own garbage collector must not stall the arrival timestamps of 2,000
            # sockets: what is measured is the server.
            gc.collect()
            gc.disable()
            cpu_before_events = cpu_seconds(target.pid)
            own_cpu_before_events = time.process_time()
            per_event_last, every_latency, trigger_seconds, missed = [], [], [], 0
            for round_index in range(args.rounds):
                await asyncio.sleep(args.pause)
                text = f"fan-out bench {run_id}, event {round_index + 1} of {args.rounds}"
                started = run.start(text)
                about = await target.fire(http, text)
                trigger_seconds.append(time.perf_counter() - started)
                complete = await wait_for_everyone(run, len(clients), args.event_timeout)
                run.stop()
                latencies = [arrived - started for arrived, _message in run.heard.values()]
                missed += len(clients) - len(latencies)
                envelopes = {(m["incident"], m["seq"]) for _a, m in run.heard.values()}
                if len(envelopes) > 1 or any(i != about for i, _seq in envelopes):
                    raise RuntimeError(f"clients disagree on the event: {envelopes}")
                every_latency.extend(latencies)
                progress(
                    f"event {round_index + 1}/{args.rounds}: {len(latencies)} clients, "
                    f"last after {max(latencies, default=math.nan) * 1000:.0f} ms"
                )
                if complete:
                    per_event_last.append(max(latencies))
            events_cpu = cpu_since(target.pid, cpu_before_events)
            gc.enable()
            own_events_cpu = round(time.process_time() - own_cpu_before_events, 2)
        finally:
            await close_all(clients)

    connect_seconds = sorted(c.connect_seconds for c in clients if c.connect_seconds)
    return {
        "url": target.url,
        "clients": args.clients,
        "rounds": args.rounds,
        "trigger": f"{args.trigger} ({run.event_type})",
        "compression": not args.no_compression,
        "fd_soft_limit": fd_soft_limit,
        "connect": {
            "all_seconds": round(connect_wall, 2),
            "per_client_ms": spread(connect_seconds),
            "concurrency": args.connect_concurrency,
        },
        "last_client_ms": spread(per_event_last),
        "all_clients_ms": spread(every_latency),
        "trigger_http_ms": spread(trigger_seconds),
        "server_cpu_seconds": {
            "connects": connect_cpu,
            "events": events_cpu,
            "idle": idle_cpu,
            "idle_seconds": args.idle_seconds,
        },
        # This process's own CPU for the events: on a small machine it competes with the server.
        "client_cpu_seconds_events": own_events_cpu,
        "events_complete": len(per_event_last),
        "deliveries": len(every_latency),
        "missed": missed,
        "other_messages": run.other_messages,
        "dropped_connections": run.dropped,
        "server_cpu_ms_per_event": (
            round(events_cpu * 1000 / args.rounds) if events_cpu is not None else None
        ),
        "sample": run.sample,
    }


async def measure_both(args):
    """Ours, then the floor (if asked) with an envelope ours sent."""
    ours = await measure(args, Ours(args))
    if not args.floor_url:
        return ours, None
    if ours["sample"] is None:
        raise RuntimeError("no envelope heard from our server: nothing to send from the floor")
    await asyncio.sleep(1)  # let our server finish closing its sockets
    return ours, await measure(args, Floor(args, ours["sample"]))


def print_figures(result):
    connect = result["connect"]
    print(f"url              {result['url']}  ({result['trigger']})")
    print(
        f"clients          {result['clients']}  (fd soft limit {result['fd_soft_limit']}, "
        f"compression {'on' if result['compression'] else 'off'})"
    )
    print(
        f"connect          all in {connect['all_seconds']} s "
        f"({connect['concurrency']} at a time); per client to hello "
        f"p50 {connect['per_client_ms']['p50']} ms  p99 {connect['per_client_ms']['p99']} ms"
    )
    for label, key in (
        ("last client", "last_client_ms"),
        ("all clients", "all_clients_ms"),
        ("trigger HTTP", "trigger_http_ms"),
    ):
        figures = result[key]
        print(
            f"{label:<16} p50 {figures['p50']} ms  p99 {figures['p99']} ms  max {figures['max']} ms"
        )
    cpu = result["server_cpu_seconds"]
    if cpu["events"] is not None:
        print(
            f"server CPU       {cpu['connects']} s for the connects; {cpu['events']} s for "
            f"the {result['rounds']} events and their pauses"
            + (
                f"; {cpu['idle']} s while idle for {cpu['idle_seconds']} s"
                if cpu["idle"] is not None
                else ""
            )
        )
    own = result["client_cpu_seconds_events"]
    print(f"bench CPU        {own} s for the events (this client's own)")
    print(
        f"events           {result['events_complete']} of {result['rounds']} reached every "
        f"client; {result['deliveries']} deliveries, {result['missed']} missed"
    )
    if result["dropped_connections"]:
        print(f"dropped          {result['dropped_connections']} connections closed under us")


def ratio(ours, floor):
    if ours is None or not floor:
        return "-"
    return f"{ours / floor:.2f}"


def print_comparison(ours, floor, goal_p99_ms):
    rows = [
        ("last socket p50 ms", ours["last_client_ms"]["p50"], floor["last_client_ms"]["p50"], ""),
        (
            "last socket p99 ms",
            ours["last_client_ms"]["p99"],
            floor["last_client_ms"]["p99"],
            f"<= {goal_p99_ms:g}",
        ),
        ("all sockets p50 ms", ours["all_clients_ms"]["p50"], floor["all_clients_ms"]["p50"], ""),
        ("all sockets p99 ms", ours["all_clients_ms"]["p99"], floor["all_clients_ms"]["p99"], ""),
        (
            "server CPU ms/event",
            ours["server_cpu_ms_per_event"],
            floor["server_cpu_ms_per_event"],
            "",
        ),
        ("missed", ours["missed"], floor["missed"], "0"),
    ]
    print(f"\n{ours['clients']} sockets, {ours['rounds']} events: ours vs the bare-Channels floor")
    print(f"{'':<22}{'ours':>10}{'floor':>10}{'ratio':>8}   goal")
    for label, mine, bare, goal in rows:
        shown = [("-" if value is None else value) for value in (mine, bare)]
        print(f"{label:<22}{shown[0]:>10}{shown[1]:>10}{ratio(mine, bare):>8}   {goal}")
    met = (ours["last_client_ms"]["p99"] or math.inf) <= goal_p99_ms and not ours["missed"]
    print(f"goal {'met' if met else 'NOT met'}: last socket p99 <= {goal_p99_ms:g} ms, none missed")


def failed(result):
    return (
        result["missed"]
        or result["dropped_connections"]
        or result["events_complete"] < result["rounds"]
    )


def main(argv=None):
    args = parse_args(argv)
    try:
        ours, floor = asyncio.run(asyncio.wait_for(measure_both(args), args.max_seconds))
    except TimeoutError:
        sys.exit(f"stopped after --max-seconds {args.max_seconds}")
    for result in filter(None, (ours, floor)):
        del result["sample"]
    if args.json:
        print(json.dumps({"ours": ours, "floor": floor}, indent=2))
    else:
        print_figures(ours)
        if floor:
            print()
            print_figures(floor)
            print_comparison(ours, floor, args.goal_p99_ms)
    return 1 if failed(ours) or (floor and failed(floor)) else 0


if __name__ == "__main__":
    sys.exit(main())
