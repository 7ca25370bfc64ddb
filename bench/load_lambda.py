"""The Lambda path for ``bench/load.py --lambda-path``: the coordinator as production runs it,
``lambda_handler.handler_for(create_core(settings))``, called in this process with the Function
URL event (payload 2.0) each worker request becomes.

``LambdaPath`` is an httpx transport for ``load.py``'s workers (so the job mix, the transfers
and the verification are load.py's own): each request becomes an event as a function URL makes
it (``tests/coordinator/adapters.py``'s ``function_url_event_of``), the handler runs on one of
``threads`` threads (Lambda runs one event per instance at a time: ``threads=1`` is that), and
its answer is checked for the shape Lambda requires before the worker sees it.

The coordinator's CPU is ``time.thread_time()`` around each handler call, summed: the handler
thread's own CPU, so the workers' HTTP clients and transfers in this process are not counted
(they run on the event loop's thread), and neither is the wait for the GIL. Store calls inside
the handler are (the coordinator's S3 client signs, sends and parses them), as in the serve
process. With ``profile=True`` every handler call also runs under a per-thread cProfile timed
by ``thread_time`` (CPU, as the figure).
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from timed_coordinator import RESET_PATH, STATS_PATH, route_name, store_time, timed_broker

from coordinator.app import create_core
from coordinator.config import load_settings
from coordinator.lambda_handler import handler_for
from tests.coordinator.adapters import HOST, _checked, function_url_event_of

BASE_URL = f"https://{HOST}"


class LambdaPath(httpx.AsyncBaseTransport):
    """Worker requests into the Lambda handler over a core for ``env``, on ``threads`` threads.

    ``samples`` per route: (handler ns, store ns, status, handler CPU ns), as the serve
    process's timing wrapper records the first three.
    """

    def __init__(self, env: dict[str, str], threads: int, *, profile: bool = False) -> None:
        settings = load_settings(env)
        self.handler = handler_for(create_core(settings, broker=timed_broker(settings)))
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="lambda")
        self.samples: dict[str, list[tuple[int, int, int, int]]] = defaultdict(list)
        self.profiles: list[cProfile.Profile] | None = [] if profile else None
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def cpu_seconds(self) -> float:
        return sum(s[3] for rows in self.samples.values() for s in rows) / 1e9

    @property
    def requests(self) -> int:
        return sum(len(rows) for rows in self.samples.values())

    def _profile(self) -> cProfile.Profile | None:
        if self.profiles is None:
            return None
        profile = getattr(self._local, "profile", None)
        if profile is None:
            # CPU, not wall: a call waiting on the store or the GIL is not counted
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self.profiles.append(profile)
        return profile

    def _call(self, event: dict[str, Any], name: str) -> dict[str, Any]:
        """One invocation, on a pool thread: the handler's wall, store and CPU time."""
        profile = self._profile()
        with store_time() as spent:
            start, cpu = time.perf_counter_ns(), time.thread_time_ns()
            if profile is not None:
                profile.enable()
            try:
                answer = self.handler(event, None)
            finally:
                if profile is not None:
                    profile.disable()
                cpu = time.thread_time_ns() - cpu
                wall = time.perf_counter_ns() - start
        status = answer.get("statusCode", 0) if isinstance(answer, dict) else 0
        self.samples[name].append((wall, sum(spent), status, cpu))  # append: atomic
        return answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in (RESET_PATH, STATS_PATH):  # load.py's bench routes, as the serve wrapper has
            if path == RESET_PATH:
                self.samples.clear()
                if self.profiles is not None:
                    for profile in self.profiles:
                        profile.clear()
            return httpx.Response(200, json={"routes": self.samples}, request=request)
        await request.aread()
        event = function_url_event_of(request)
        name = route_name(request.method, path)
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self.pool, self._call, event, name)
        response = _checked(answer, request.method)
        response.request = request
        return response

    async def aclose(self) -> None:
        self.pool.shutdown(wait=True)

    def top(self, count: int = 15) -> str:
        """The profiled handler calls' top functions by own CPU time (all threads merged)."""
        import io

        if not self.profiles:
            return "(no profile)"
        sink = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=sink)
        for profile in self.profiles[1:]:
            stats.add(profile)
        stats.sort_stats("tottime").print_stats(count)
        sink.write("the coordinator's functions by cumulative CPU time:\n")
        stats.sort_stats("cumtime").print_stats(r"coordinator[/\\]", count)
        return sink.getvalue()
