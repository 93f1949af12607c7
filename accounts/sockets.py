"""Closing a user's dashboard sockets when their credentials stop being valid (CONTRACT §7).

Every dashboard socket also joins its user's group; a `dashboard.revoke` message there names
the credential that ended (one session, the user's token, or all of them) and the sockets that
run on it close at once with 4401. The heartbeat re-checks the credentials as well, so a
message lost with Redis still closes the socket within a beat."""

import hashlib
import logging

from dispatch import events

logger = logging.getLogger(__name__)

TOKEN_CREDENTIAL = "token"


def user_group(user_id):
    return f"dashboard.user.{user_id}"


def session_credential(session_key):
    """Names a session without putting its key into Redis."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def close_sockets(user_id, credential=None):
    """Close the user's sockets that run on `credential` (None: every one). Never raises: the
    credential is already invalid in the database, and the heartbeat closes what this misses."""
    message = {"type": "dashboard.revoke", "credential": credential}
    try:
        events.sender.send([user_group(user_id)], message)
    except Exception:
        logger.warning("could not close the sockets of user %s now", user_id, exc_info=True)
