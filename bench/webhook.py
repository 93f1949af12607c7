"""Load-test the voice webhook of a running server: N signed Twilio voice webhooks, each with
its own CallSid, from C concurrent clients; prints count, errors, latency percentiles and
throughput.

It starts nothing: run the server yourself (see bench/RESULTS.md), with the same
TWILIO_AUTH_TOKEN. Every request goes to a loopback address, and the run is bounded both in
requests (--requests) and in time (--max-seconds).

    .venv/bin/python bench/webhook.py --url http://127.0.0.1:8100 --token benchtoken \\
        --requests 2000 --concurrency 50
"""

import argparse
import asyncio
import json
import math
import os
import secrets
import sys
import time

import httpx
from loopback import is_loopback  # bench/loopback.py (the script's own folder)
from twilio.request_validator import RequestValidator

VOICE_PATH = "/calls/twilio/voice/"
MAX_REQUESTS = 100_000
MAX_CONCURRENCY = 1_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument(
        "--signed-base",
        default=None,
        help="the origin the server rebuilds the signed URL from (its PUBLIC_BASE_URL); "
        "default: --url",
    )
    parser.add_argument("--path", default=VOICE_PATH)
    parser.add_argument("-n", "--requests", type=int, default=2000)
    parser.add_argument("-c", "--concurrency", type=int, default=50)
    parser.add_argument(
        "--token",
        default=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        help="the server's TWILIO_AUTH_TOKEN (default: $TWILIO_AUTH_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="per request, seconds (Twilio gives 15)"
    )
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop the run after")
    parser.add_argument("--from-number", default="+628120000", help="caller id prefix")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set TWILIO_AUTH_TOKEN")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be 1..{MAX_REQUESTS}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be 1..{MAX_CONCURRENCY}")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds must be in (0, 3600]")
    if not is_loopback(args.url):
        parser.error(f"{args.url} is not a loopback address: this tool only loads a local server")
    return args


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list; None for an empty one."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def run(args):
    url = args.url.rstrip("/") + args.path
    signed_url = (args.signed_base or args.url).rstrip("/") + args.path
    validator = RequestValidator(args.token)
    run_id = secrets.token_hex(6)
    latencies = []
    errors = {}
    next_index = 0
    deadline = time.monotonic() + args.max_seconds

    def request_for(index):
        params = {
            "CallSid": f"CA{run_id}{index:020d}",  # 34 characters, like Twilio's
            "AccountSid": "AC" + "0" * 32,
            "From": f"{args.from_number}{index % 100000:05d}",
            "To": "112",
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        return params, {"X-Twilio-Signature": validator.compute_signature(signed_url, params)}

    async def client_loop(client):
        nonlocal next_index
        while next_index < args.requests and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            params, headers = request_for(index)
            started = time.perf_counter()
            try:
                response = await client.post(url, data=params, headers=headers)
                elapsed = time.perf_counter() - started
                if response.status_code == 200 and b"<Response>" in response.content:
                    latencies.append(elapsed)
                    continue
                key = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(args.concurrency)))
        wall = time.perf_counter() - started

    latencies.sort()
    sent = len(latencies) + sum(errors.values())
    return {
        "url": url,
        "requests": sent,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "concurrency": args.concurrency,
        "seconds": round(wall, 3),
        "requests_per_second": round(sent / wall, 1) if wall else None,
        # Of the successful requests.
        "latency_ms": {
            name: None if (value := percentile(latencies, p)) is None else round(value * 1000, 1)
            for name, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
        },
        "stopped_by_time_limit": sent < args.requests,
    }


def main(argv=None):
    args = parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        latency = result["latency_ms"]
        print(f"url           {result['url']}")
        print(f"requests      {result['requests']} (concurrency {result['concurrency']})")
        print(f"ok            {result['ok']}")
        print(f"errors        {result['errors']} {result['error_kinds'] or ''}".rstrip())
        print(
            f"latency ms    p50 {latency['p50']}  p95 {latency['p95']}  p99 {latency['p99']}"
            f"  max {latency['max']}  (successful requests)"
        )
        print(f"throughput    {result['requests_per_second']} requests/s")
        print(f"wall time     {result['seconds']} s")
        if result["stopped_by_time_limit"]:
            print("stopped by --max-seconds before all requests were sent")
    return 1 if result["errors"] or result["stopped_by_time_limit"] else 0


if __name__ == "__main__":
    sys.exit(main())
