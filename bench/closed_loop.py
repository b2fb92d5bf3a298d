#!/usr/bin/env python3
"""Closed-loop HTTP load for benchmarks: C client threads each POST a body, wait for the answer
and send the next, over their own keep-alive connection. Requests started in the S seconds
after a warm-up are measured (each to its end, so slow requests are not cut off); throughput is
the sum over clients of each one's measured requests over the time they took (back to back,
from its first measured start to its last end). Bodies rotate
through the files given. Prints JSON: requests, errors, requests/s, p50/p99 ms.

  closed_loop.py URL --concurrency 8 --seconds 20 --content-type image/jpeg FILE...
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    bodies = [open(f, "rb").read() for f in args.files]
    headers = {"Content-Type": args.content_type}
    for h in args.header:
        name, value = h.split(":", 1)
        headers[name.strip()] = value.strip()
    start = time.monotonic()
    measure_from = start + args.warmup
    stop_at = measure_from + args.seconds
    lock = threading.Lock()
    latencies, errors = [], []
    spans = {}  # client -> [first measured start, last measured end, requests]

    def client(index):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        i = index
        while True:
            t0 = time.monotonic()
            if t0 >= stop_at:
                return
            try:
                conn.request("POST", url.path, body=bodies[i % len(bodies)], headers=headers)
                response = conn.getresponse()
                payload = response.read()
                ok = response.status == 200
            except Exception as e:
                ok, payload = False, repr(e).encode()
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            t1 = time.monotonic()
            i += 1
            if t0 >= measure_from:
                with lock:
                    span = spans.setdefault(index, [t0, t1, 0])
                    span[1] = t1
                    span[2] += 1
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors.append(payload[:200].decode(errors="replace"))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1) if latencies else None

    print(json.dumps({"requests": len(latencies), "errors": len(errors),
                      "requests_per_s": round(sum(n / max(1e-9, end - begin)
                                                  for begin, end, n in spans.values()), 2),
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99), "first_errors": errors[:3]}))


if __name__ == "__main__":
    main()
