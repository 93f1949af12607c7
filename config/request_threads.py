"""Django's ASGI handler on reused request threads (the web process's HTTP, config/asgi.py)."""

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler


class RequestThreads:
    """Idle request threads, for the next request to take. Django gives every request a
    thread of its own for its sync work (signal receivers, the view), which asgiref joins on
    exit from yet another new thread: two thread starts per request, and, Django's database
    connections being per thread, a new database wrapper per request, all of it garbage for the
    collector (bench/RESULTS.md). Only the event loop's thread takes and gives back, so no
    lock. A thread still running the view of a request whose client went away keeps the next
    request that takes it waiting, in order, as Django's own single thread would."""

    def __init__(self, keep_idle):
        self.keep_idle = keep_idle
        self.idle = []

    def take(self):
        if self.idle:
            return self.idle.pop()  # the most recently used: its state is warm
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor):
        if len(self.idle) < self.keep_idle:
            self.idle.append(executor)
        else:
            executor.shutdown(wait=False)


class DjangoHTTP(ASGIHandler):
    """Django's ASGI handler, each request on a request thread taken from `threads`."""

    def __init__(self, threads):
        super().__init__()
        self.threads = threads

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP here, not {scope['type']}")
        executor = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give_back(executor)
