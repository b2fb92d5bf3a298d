#!/usr/bin/env python3
"""Open-loop HTTP load at a fixed rate, for benchmarks: sends POSTs on a schedule (not waiting
for answers before sending the next), over keep-alive connections, and prints a JSON summary:
requests sent, answered 200, failed (other statuses and connection errors, with details), and
latency percentiles. Standard library only.

  load.py URL --rate 200 --seconds 30 --body FILE [--header 'Authorization: Bearer KEY']
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
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    body = open(args.body, "rb").read()
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
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                conn.request("POST", url.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except Exception as e:  # connection reset, refused, timeout
                error = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.monotonic() - t0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
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
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99), "failures": failures[:20]}))


if __name__ == "__main__":
    main()
