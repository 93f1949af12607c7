"""Hand-made statements run on the event loop, with no thread: the voice webhook's fast lane
(`config.fastlane`). Django's database layer is synchronous, so a Django view costs every
request a hand-off to a thread and back, and under a flood of calls those hand-offs and the
threads' contention for the GIL cost more than the call's own work (bench/RESULTS.md). Here
the same hand-made statements as Django's view sends run on an asyncio connection of psycopg,
from a pool of the loop's own, configured as Django configures its own: the same database,
adapters, time zone, prepared statements, pool sizes and waiting time. A web process so holds
two pools, each of up to DB_POOL_MAX connections.

Only PostgreSQL; and only what needs no ORM: anything else takes Django's way."""

import asyncio
import contextlib
import logging
import select

from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import AsyncConnection, AsyncCursor
from psycopg import Error as PsycopgError
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)


class Statements:
    """One transaction's statements, for `run_in_transaction`'s work. The connection is in
    autocommit mode and the transaction is opened and closed here, so that its BEGIN goes with
    the first statement and its COMMIT with the last (psycopg's pipeline): two round trips for
    two statements."""

    def __init__(self, database):
        self.database = database
        self.begun = False

    async def fetch_one(self, sql, params, *, last=False):
        """Run a statement and return its one row. `last=True`: the COMMIT goes with it, so a
        row lock the statement takes (the day's reference counter) is held for the database's
        own work only; a COMMIT that fails raises here, and nothing is kept."""
        async with self.database.cursor() as cursor:
            async with self.database.pipeline():
                if not self.begun:
                    await self.database.execute("BEGIN")
                    self.begun = True
                await cursor.execute(sql, params)
                if last:
                    await self.database.execute("COMMIT")
            return await cursor.fetchone()


async def run_in_transaction(work):
    """`await work(statements)` in a transaction on a connection of the loop's pool, its last
    statement committing it (`last=True`); rolled back if it returns or raises before. Waiting
    for a connection is bounded as Django's is (`DB_POOL_TIMEOUT`): a database that does not
    answer raises here, in time for a fallback answer.

    A connection found lost on the way — its backend terminated an instant before, too late
    for `may_be_dead` to see — makes the whole work run once more on another connection, so
    `work` must be idempotent (its COMMIT may have landed before the loss was noticed)."""
    pool = await loop_pool()
    for attempt in (1, 2):
        database = await live_connection(pool)
        statements = Statements(database)
        try:
            return await work(statements)
        except PsycopgError:
            if attempt == 2 or not database.broken:
                raise
            logger.warning("a database connection of the event loop was lost; once more")
            await pool.check()
        finally:
            await finished(pool, database)


async def finished(pool, database):
    """The connection back to its pool, its transaction rolled back if still open."""
    try:
        if database.info.transaction_status != TransactionStatus.IDLE and not database.broken:
            await database.execute("ROLLBACK")
    finally:
        await pool.putconn(database)  # a broken connection is discarded and replaced


async def live_connection(pool):
    """A connection of the pool, checked as it leaves it (`may_be_dead`, then one empty query
    if it may be). After a restart, a failover or a `pg_terminate_backend` every idle
    connection is dead: on the first dead one the whole pool is tested at once, and a fresh one
    taken, as `config.postgres` does for Django's pool (psycopg_pool's own check would back off
    a second or more per dead one)."""
    database = await pool.getconn()
    if not may_be_dead(database):
        return database
    try:
        await database.execute("")
    except PsycopgError:
        logger.warning("a pooled database connection of the event loop was dead; checking all")
        await pool.putconn(database)  # a broken connection is discarded and replaced
        await pool.check()
        return await pool.getconn()
    except BaseException:  # cancelled: the connection goes back all the same
        await pool.putconn(database)
        raise
    return database


def may_be_dead(database):
    """Whether a pooled connection needs a round trip to tell that it is alive. The server
    writes nothing to an idle connection unasked, but when it ends it:
    a terminated backend's FATAL, a restarting server's, the end of the socket. So a connection
    with nothing to read, which psycopg does not know broken, is as alive as an empty query
    would find it, for the price of one `poll` instead of a round trip (bench/RESULTS.md). One
    with something to read may only have got a notice: the caller tests it."""
    if database.closed or database.broken:
        return True
    waiting = select.poll()  # not select(): a web process holds thousands of sockets
    waiting.register(database.fileno(), select.POLLIN)
    return bool(waiting.poll(0))


# One pool per event loop: a connection of asyncio's psycopg belongs to the loop it was opened
# on. A web process has one loop; a test run makes one per test.
pools = {}


async def loop_pool():
    """The running loop's pool, opened on first use (a failed opening is tried again)."""
    loop = asyncio.get_running_loop()
    opening = pools.get(loop)
    if opening is None:
        opening = pools[loop] = loop.create_task(opened_pool())
    try:
        return await asyncio.shield(opening)
    except Exception:
        pools.pop(loop, None)  # the next call tries again
        raise


async def opened_pool():
    wrapper = connections[DEFAULT_DB_ALIAS]
    options = wrapper.settings_dict["OPTIONS"].get("pool") or {}
    kwargs = wrapper.get_connection_params()
    kwargs.pop("cursor_factory")  # Django's are synchronous; psycopg's binds server-side
    pool = AsyncConnectionPool(
        kwargs={**kwargs, "autocommit": True, "cursor_factory": AsyncCursor},
        open=False,
        configure=in_utc,
        name="event-loop",
        **options,
    )
    await pool.open()
    return pool


async def in_utc(database: AsyncConnection):
    """What Django's own pool does to a new connection (its `_configure_timezone`): the
    session in UTC, the time zone its adapters read timestamps in."""
    if database.info.parameter_status("TimeZone") != "UTC":
        await database.execute("SET TIME ZONE 'UTC'")


def close_running_pools(seconds=10):
    """Close the pools of every loop still running, from another thread: a server stopping in
    a thread of a test process (the test database can only be dropped once its connections are
    closed)."""
    for loop, opening in list(pools.items()):
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(closed(opening), loop).result(seconds)
        pools.pop(loop, None)


async def closed(opening):
    with contextlib.suppress(Exception):
        await (await opening).close()
