"""What the Twilio webhooks measure. `/metrics` (config.metrics) exposes it."""

from prometheus_client import Histogram

WEBHOOK_SECONDS = Histogram(
    "dispatch_webhook_seconds",
    "Time to answer a Twilio webhook (this web process only).",
    ["endpoint"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
    registry=None,  # registered by config.metrics, with the database's figures
)
