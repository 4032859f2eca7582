"""LLM-path batch throughput against a local simulated OpenAI-compatible server with a fixed
latency, the rate limit measured at the server, and a cached rerun.

    .venv/bin/python benchmarks/llm_throughput.py [--cases 320] [--concurrency 16] [--latency 0.3] [--json]

The server (stdlib, loopback only, stops itself) sleeps ``--latency`` seconds per request and
answers a valid empty fact set, so the figures measure the client side: prompt rendering,
concurrency, retries and caching, not a model. Ideal throughput is concurrency / latency.
Targets: at concurrency 16, at least 90% of ideal; with a rate limit set, no window at the server
holds more requests than the limit; a cached rerun makes zero requests.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine

from review.batch.options import BatchOptions
from review.batch.run import run_batch

ANSWER = json.dumps({"procedure_status": "not_mentioned"})


def _serve(latency: float, port_queue) -> None:
    """The server process: answers after ``latency`` seconds, records arrival times (monotonic,
    comparable across processes), reports them on GET /times and clears them on DELETE /times."""
    times: list[float] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            with lock:
                body = json.dumps(times).encode()
            self._send(body)

        def do_DELETE(self):
            with lock:
                times.clear()
            self._send(b"[]")

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                times.append(time.monotonic())
            time.sleep(latency)
            self._send(RESPONSE)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.request_queue_size = 128
    port_queue.put(httpd.server_address[1])
    httpd.serve_forever()


RESPONSE = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": ANSWER},
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 10, "total_tokens": 1010},
    }
).encode()


class SlowServer:
    """The simulated endpoint in its own process, so its timing does not share our GIL."""

    def __init__(self, latency: float):
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._queue = ctx.Queue()
        self._process = ctx.Process(target=_serve, args=(latency, self._queue), daemon=True)

    def __enter__(self):
        self._process.start()
        self.port = self._queue.get(timeout=10)
        return self

    def __exit__(self, *exc):
        self._process.terminate()
        self._process.join(5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def times(self) -> list[float]:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/times", timeout=10) as resp:
            return json.loads(resp.read())

    def clear(self) -> None:
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{self.port}/times", method="DELETE"),
            timeout=10,
        ).read()


def notes_file(path: Path, n: int) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": f"n{i}", "text": f"Visit {i}. Neck pain, no procedure today."}) + "\n"
            for i in range(n)
        ),
        encoding="utf-8",
    )
    return path


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=320)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument(
        "--workers", type=int, default=2, help="processes (each with concurrency/workers threads)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict = {
        "benchmark": "llm_throughput",
        "machine": machine(),
        "cases": args.cases,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
    }
    with tempfile.TemporaryDirectory() as tmp, SlowServer(args.latency) as server:
        tmp = Path(tmp)
        config = tmp / "llm.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "base_url": server.base_url,
                    "model": "bench",
                    "api_key": "sk-bench-not-a-key",
                    "timeout": 30,
                    "max_retries": 2,
                }
            ),
            encoding="utf-8",
        )
        notes = notes_file(tmp / "notes.jsonl", args.cases)
        cache = tmp / "cache.sqlite"
        base = {
            "extractor": "llm",
            "concurrency": args.concurrency,
            "workers": args.workers,
            "llm_config": str(config),
        }

        start = time.perf_counter()
        run_batch(notes, tmp / "a", BatchOptions(**base, cache_path=str(cache)))
        elapsed = time.perf_counter() - start
        ideal = args.concurrency / args.latency
        arrivals = sorted(server.times)
        # steady state: requests per second at the server from the first to the last arrival
        # (worker start-up and the last responses are outside it); end to end includes them
        steady = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        result["throughput"] = {
            "requests": len(arrivals),
            "seconds": round(elapsed, 2),
            "end_to_end_per_s": round(args.cases / elapsed, 1),
            "per_s": round(steady, 1),
            "ideal_per_s": round(ideal, 1),
            "share_of_ideal": round(steady / ideal, 3),
            "target": ">= 0.9",
        }

        server.clear()
        run_batch(notes, tmp / "b", BatchOptions(**base, cache_path=str(cache)))
        result["cached_rerun_requests"] = len(server.times)

        server.clear()
        limit, window, n = 20, 1.0, min(args.cases, 100)
        run_batch(
            notes_file(tmp / "few.jsonl", n),
            tmp / "c",
            BatchOptions(**base, requests_per_minute=limit, rate_window_seconds=window),
        )
        result["rate_limit"] = {
            "limit_per_window": limit,
            "window_s": window,
            "requests": len(server.times),
            "max_in_any_window_at_server": max_in_window(server.times, window),
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t = result["throughput"]
    print(
        f"concurrency {args.concurrency}, latency {args.latency}s: {t['per_s']}/s of ideal {t['ideal_per_s']}/s "
        f"= {t['share_of_ideal']:.0%} (target 90%)"
    )
    print(f"cached rerun: {result['cached_rerun_requests']} requests (target 0)")
    r = result["rate_limit"]
    print(
        f"rate limit {r['limit_per_window']}/{r['window_s']}s: at most {r['max_in_any_window_at_server']} "
        f"requests in any window at the server ({r['requests']} requests)"
    )


if __name__ == "__main__":
    main()
