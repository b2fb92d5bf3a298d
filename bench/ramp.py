#!/usr/bin/env python3
"""Open-loop ramp for the elastic-serving benchmark: offers a rate that rises linearly from 0 to
--peak requests/s over --up seconds, holds it for --hold, falls back to 0 over --down, then
stays idle for --idle seconds, sending POSTs on that schedule over keep-alive connections (not
waiting for answers before sending the next). Once a second it reads the service's ready
replicas from the control API. Writes a JSON timeline (per second: offered rate, answers,
failures, p99 of the answers, ready replicas) and an SVG plot of it. Standard library only.

  ramp.py --server URL --key KEY --service NAME --body FILE --peak 200 --out PREFIX
"""
import argparse
import http.client
import json
import queue
import threading
import time
import urllib.parse
import urllib.request


def rate_at(t, a):
    if t < a.up:
        return a.peak * t / a.up
    t -= a.up
    if t < a.hold:
        return a.peak
    t -= a.hold
    if t < a.down:
        return a.peak * (1 - t / a.down)
    return 0.0


def svg(points, a):
    width, height, left, right, top, bottom = 900, 420, 60, 60, 30, 50
    seconds = max(p["t"] for p in points) + 1
    max_rate = max(a.peak, 1)
    max_p99 = max([p["p99_ms"] or 0 for p in points] + [1])
    max_ready = max([p["ready"] for p in points] + [1])
    x = lambda t: left + (width - left - right) * t / seconds
    y = lambda v, top_value: top + (height - top - bottom) * (1 - v / top_value)

    def path(key, top_value, step=False):
        d = []
        prev = None
        for p in points:
            v = p[key] if p[key] is not None else 0
            if step and prev is not None:
                d.append("L%.1f,%.1f" % (x(p["t"]), y(prev, top_value)))
            d.append(("M" if not d else "L") + "%.1f,%.1f" % (x(p["t"]), y(v, top_value)))
            prev = v
        return " ".join(d)

    lines = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
        'font-size="12">' % (width, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="%d" y="18" font-size="14">berth: open-loop ramp 0 → %d → 0 requests/s '
        '(add_sub, autoscaling on rps, min 0)</text>' % (left, a.peak),
        '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>' % (
            left, height - bottom, width - right, height - bottom),
    ]
    for t in range(0, int(seconds) + 1, 30):
        lines.append('<text x="%.1f" y="%d" text-anchor="middle">%d s</text>' % (
            x(t), height - bottom + 16, t))
    lines += [
        '<path d="%s" fill="none" stroke="#3b82f6" stroke-width="2"/>' % path("offered", max_rate),
        '<path d="%s" fill="none" stroke="#16a34a" stroke-width="2"/>' % path(
            "ready", max_ready, step=True),
        '<path d="%s" fill="none" stroke="#dc2626" stroke-width="1.2"/>' % path("p99_ms", max_p99),
        '<text x="%d" y="%d" fill="#3b82f6">offered req/s (max %d)</text>' % (
            left, height - 8, max_rate),
        '<text x="%d" y="%d" fill="#16a34a">ready replicas (max %d)</text>' % (
            left + 230, height - 8, max_ready),
        '<text x="%d" y="%d" fill="#dc2626">p99 ms per second (max %.1f)</text>' % (
            left + 460, height - 8, max_p99),
        '</svg>',
    ]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--peak", type=float, default=200)
    p.add_argument("--up", type=float, default=60)
    p.add_argument("--hold", type=float, default=30)
    p.add_argument("--down", type=float, default=60)
    p.add_argument("--idle", type=float, default=40)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    url = urllib.parse.urlsplit(a.server)
    body = open(a.body, "rb").read()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + a.key}
    path = "/v2/models/%s/infer" % a.service
    total_s = a.up + a.hold + a.down + a.idle
    start = time.monotonic()
    due = queue.Queue()
    lock = threading.Lock()
    answers = []  # (second, status, latency_ms)
    ready = {}    # second -> ready replicas

    def sender():
        conn = None
        while True:
            item = due.get()
            if item is None:
                return
            t0 = time.monotonic()
            status = 0
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
                conn.request("POST", path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                status = r.status
            except Exception:  # connection reset, refused, timeout
                if conn is not None:
                    conn.close()
                conn = None
            with lock:
                answers.append((int(t0 - start), status, (time.monotonic() - t0) * 1000))

    def watcher():
        while time.monotonic() - start < total_s:
            second = int(time.monotonic() - start)
            try:
                req = urllib.request.Request(a.server + "/api/v1/services/" + a.service,
                                             headers={"Authorization": "Bearer " + a.key})
                with urllib.request.urlopen(req, timeout=5) as r:
                    ready[second] = json.load(r)["ready_replicas"]
            except Exception:
                pass
            time.sleep(max(0, second + 1 - (time.monotonic() - start)))  # the next second's read

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(a.connections)]
    for t in threads:
        t.start()
    w = threading.Thread(target=watcher, daemon=True)
    w.start()
    # The schedule: integrate the rate, one request each time it passes a whole number.
    sent, credit, tick = 0, 0.0, 0.01
    t = 0.0
    while t < total_s:
        credit += rate_at(t, a) * tick
        while credit >= 1:
            due.put(sent)
            sent += 1
            credit -= 1
        t += tick
        delay = start + t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    for _ in threads:
        due.put(None)
    for th in threads:
        th.join()
    w.join(timeout=5)
    points = []
    last_ready = 0
    for s in range(int(total_s)):
        mine = [x for x in answers if x[0] == s]
        ok = sorted(x[2] for x in mine if x[1] == 200)
        last_ready = ready.get(s, last_ready)
        points.append({"t": s, "offered": round(rate_at(s, a), 1), "answered": len(mine),
                       "failed": sum(1 for x in mine if x[1] != 200),
                       "p99_ms": round(ok[min(len(ok) - 1, int(0.99 * len(ok)))], 2) if ok else None,
                       "ready": last_ready})
    summary = {"sent": sent, "ok": sum(1 for x in answers if x[1] == 200),
               "failed": sum(1 for x in answers if x[1] != 200),
               "max_ready": max(p["ready"] for p in points),
               "points": points}
    json.dump(summary, open(a.out + ".json", "w"), indent=1)
    open(a.out + ".svg", "w").write(svg(points, a))
    print(json.dumps({k: v for k, v in summary.items() if k != "points"}))


if __name__ == "__main__":
    main()
