"""A webhook receiver for the benchmarks, in a process of its own, so that it never takes
the GIL from what is measured (the sender, an in-process notifier).

    .venv/bin/python bench/webhook_sink.py PORT

aiohttp on uvloop, keep-alive, no access log. POST /hook records, for every alert of
the body, when it arrived (time.time(), comparable across processes) and its title's
first word ("bench-7 - 10.0.0.7" → "bench-7"); the body is parsed with orjson.
GET /arrivals?since=N gives the records from the N-th on as JSON [[time, title], …];
GET /count the number so far. `SinkProcess` starts one and reads it back.
"""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import orjson


def serve(port: int) -> None:
    import asyncio

    import uvloop
    from aiohttp import web

    arrivals: list[tuple[float, str]] = []

    async def hook(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        now = time.time()
        for a in body.get("alerts", ()):
            arrivals.append((now, (a.get("title") or "").split(" - ", 1)[0]))
        return web.Response(text="ok")

    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(len(arrivals)))

    async def since(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(arrivals[int(request.query.get("since", 0)):]),
                            content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/hook", hook)
        app.router.add_get("/count", count)
        app.router.add_get("/arrivals", since)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    uvloop.run(main())


class SinkProcess:
    """The sink as a child process: its URL, what it received, its CPU time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, __file__, str(port)], stdout=subprocess.PIPE)
        if self.proc.stdout.readline().strip() != b"ready":
            raise SystemExit("the webhook sink did not start")

    def count(self) -> int:
        return int(urllib.request.urlopen(f"{self.url}/count", timeout=30).read())

    def arrivals(self, since: int = 0) -> list[tuple[float, str]]:
        return [tuple(a) for a in orjson.loads(urllib.request.urlopen(f"{self.url}/arrivals?since={since}",
                                                                        timeout=60).read())]

    def cpu(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
