#!/usr/bin/env python3
"""Open-loop HTTP load at a fixed rate, for benchmarks: sends POSTs on a schedule (not waiting
for answers before sending the next), over keep-alive connections, and prints a JSON summary:
requests sent, answered 200, failed (other statuses and connection errors, with details), and
latency percentiles. Standard library only.

  load.py URL --rate 200 --seconds 30 --body FILE [--header 'Authorization: Bearer KEY']
          [--alt-body FILE --alt-every N] [--count-header Berth-Revision]

--alt-body sends another body as every Nth request (inputs a model fails on, say);
--count-header counts the answers by that response header's value, with the times (seconds
from the start) of the first and the last answer carrying each value.
"""
import argparse
import http.client
import json
import queue
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--alt-body")
    parser.add_argument("--alt-every", type=int, default=0)
    parser.add_argument("--count-header")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    body = open(args.body, "rb").read()
    alt_body = open(args.alt_body, "rb").read() if args.alt_body else None
    counted = {}  # header value -> {"count", "first_s", "last_s"}
    headers = {"Content-Type": args.content_type}
    for h in args.header:
        name, value = h.split(":", 1)
        headers[name.strip()] = value.strip()

    total = int(args.rate * args.seconds)
    start = time.monotonic()
    due = queue.Queue()
    lock = threading.Lock()
    latencies, failures, statuses = [], [], {}

    def sender():
        conn = None
        while True:
            item = due.get()
            if item is None:
                return
            error = None
            status = 0
            value = None
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                alt = alt_body is not None and args.alt_every > 0 and item % args.alt_every == 0
                conn.request("POST", url.path, body=alt_body if alt else body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                status = response.status
                if status != 200:
                    error = answer[:200].decode("utf-8", "replace")
                value = response.getheader(args.count_header) if args.count_header else None
            except Exception as e:  # connection reset, refused, timeout
                error = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - t0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if value is not None:
                    c = counted.setdefault(value, {"count": 0, "first_s": None, "last_s": None})
                    c["count"] += 1
                    at_s = round(t0 + elapsed - start, 3)
                    c["first_s"] = at_s if c["first_s"] is None else min(c["first_s"], at_s)
                    c["last_s"] = at_s if c["last_s"] is None else max(c["last_s"], at_s)
                if status == 200:
                    latencies.append(elapsed)
                else:
                    failures.append({"at_s": round(t0 - start, 3), "status": status,
                                     "error": error})

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for i in range(total):
        at = start + i / args.rate
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due.put(i)
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else None

    print(json.dumps({"sent": total, "ok": statuses.get(200, 0), "failed": len(failures),
                      "statuses": {str(k): v for k, v in statuses.items()},
                      "seconds": round(time.monotonic() - start, 2),
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
                      "failures": failures[:20],
                      "header_values": counted}))


if __name__ == "__main__":
    main()
