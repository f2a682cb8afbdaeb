#!/usr/bin/env python3
"""Load test for `edgetune serve`: a bounded loop of /predict requests (--requests, continued until a tenth of them after the swap, 50x at most) from this process, on
loopback, while a /train run goes and across an activate swap. Prints requests/s, p50, p99
and failures for each phase (before training, during it, after the swap) and overall.

    python3 scripts/bench-serve.py --url http://127.0.0.1:8080 --image some.png \
        [--token-file F] [--requests 600] [--concurrency 4] [--train '{"epochs": 2}']

Standard library only. Every request that is not a 200 counts as a failure.
"""
import argparse
import base64
import http.client
import json
import threading
import time
import urllib.parse


def call(conn, method, path, token, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data[:1] in (b"{", b"[") else data)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--token-file")
    ap.add_argument("--image", help="PNG/JPEG to predict (an image model)")
    ap.add_argument("--text", help="text to predict (a text model)")
    ap.add_argument("--batch", type=int, default=1, help="items per /predict request")
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--train", default='{"epochs": 2}', help="POST /train body, sent after a tenth of the requests ('' for none)")
    args = ap.parse_args()
    token = open(args.token_file).read().strip() if args.token_file else None
    u = urllib.parse.urlparse(args.url)
    host, port = u.hostname, u.port or 80
    if args.image:
        body = {"images": [base64.b64encode(open(args.image, "rb").read()).decode()] * args.batch}
    else:
        body = {"texts": [args.text or "I lost my card"] * args.batch}

    phase = ["idle"]  # idle -> training -> swapped
    results = []  # (phase, seconds, ok)
    lock = threading.Lock()
    counter = [0]
    # With a run, the loop goes on past --requests until the swap and a tenth of --requests
    # after it (at most 50 x --requests in all): the point is to measure across the swap.
    limit = [args.requests * 50 if args.train else args.requests]

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        while True:
            with lock:
                if counter[0] >= limit[0]:
                    return
                counter[0] += 1
            ph = phase[0]
            t = time.perf_counter()
            try:
                status, _ = call(conn, "POST", "/predict", token, body)
                ok = status == 200
            except Exception:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=120)
            with lock:
                results.append((ph, time.perf_counter() - t, ok))

    def controller():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        if not args.train:
            return
        while counter[0] < args.requests // 10:
            time.sleep(0.01)
        status, v = call(conn, "POST", "/train", token, json.loads(args.train))
        if status != 202:
            print(f"POST /train: {status} {v}")
            limit[0] = args.requests
            return
        run = v["id"]
        phase[0] = "training"
        print(f"started run {run} after {counter[0]} requests")
        while True:
            status, v = call(conn, "GET", f"/runs/{run}", token)
            if v.get("state") != "running":
                break
            time.sleep(0.2)
        print(f"run {run}: {v.get('state')} at step {v.get('step')}/{v.get('total_steps')} after {counter[0]} requests")
        if v.get("state") != "done":
            limit[0] = args.requests
        else:
            status, a = call(conn, "POST", f"/models/{run}/activate", token)
            phase[0] = "swapped"
            limit[0] = max(args.requests, counter[0] + args.requests // 10)
            print(f"activate {run}: {status} after {counter[0]} requests")

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    ctl = threading.Thread(target=controller)
    for t in threads + [ctl]:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ctl.join(timeout=1)
    if ctl.is_alive():
        print("note: the run was still going when the requests ran out")

    def line(name, rs, secs=None):
        lat = [r[1] * 1000 for r in rs]
        fails = sum(1 for r in rs if not r[2])
        rate = f"{len(rs) / secs:7.1f} req/s" if secs else " " * 13
        print(f"{name:<9} {len(rs):5d} requests {rate}  p50 {pct(lat, 50):7.1f} ms  p99 {pct(lat, 99):7.1f} ms  failures {fails}")

    for ph in ["idle", "training", "swapped"]:
        rs = [r for r in results if r[0] == ph]
        if rs:
            line(ph, rs)
    line("all", results, wall)


if __name__ == "__main__":
    main()
