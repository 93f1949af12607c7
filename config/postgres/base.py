"""Django's PostgreSQL backend with its connection pool, made to survive a database restart.

After a restart, a failover or an administrator's `pg_terminate_backend`, every idle connection
in the pool is dead; the stock pool hands them out one request at a time (each answering 500),
and psycopg_pool's own check backs off a second or more per dead connection. Here a connection
is tested as it leaves the pool (one empty query, well under a millisecond); on the first dead
one the whole pool is tested at once and the request takes a fresh connection.
"""

import logging

from django.db.backends.postgresql import base
from psycopg import Error as PsycopgError

logger = logging.getLogger(__name__)


def is_alive(connection):
    try:
        connection.execute("")
    except PsycopgError:
        return False
    return True


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.pool is None or is_alive(connection):
            return connection
        logger.warning("a pooled database connection was dead; checking the whole pool")
        self.pool.putconn(connection)  # a broken connection is discarded and replaced
        self.pool.check()
        return super().get_new_connection(conn_params)
