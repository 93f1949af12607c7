"""Log output (CONTRACT §12): `LOG_FORMAT=json` writes one JSON object per line, for a log
collector; the default is plain text. Log sites that concern an incident or a call pass
`extra={"incident": <reference>, "call_sid": <sid>}` and the JSON carries them as fields.

Phone numbers are personal data: INFO lines show them masked
(`agencies.phones.mask_phone`), DEBUG may show them whole."""

import json
import logging
from datetime import UTC, datetime

# Record attributes copied into the JSON object when a log site sets them.
CONTEXT_FIELDS = ("incident", "call_sid")


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value:
                entry[field] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
