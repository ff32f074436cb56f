"""Abuse checks of load_test.py: bodies over the size cap (check "caps") and requests cancelled mid-way ("cancel")."""
import asyncio
import time

from loadlib import HOST, call, closed_within, request_bytes
from workload import LINGER, MAX_BODY, MODEL, TEXTS, predict_body


# (c) Bodies over the cap: honest, lying Content-Length, chunked without end.
async def body_caps(checks):
    rss0 = checks.server.rss_mib()
    out = {}

    async def send_until_answer(head, chunk, limit_bytes, limit_s):
        """Writes `head`, then `chunk` repeatedly until the server answers or closes; returns (status line,
        seconds to the answer, bytes sent before it, seconds until the server closed after it)."""
        reader, writer = await asyncio.open_connection(HOST, checks.port)
        started, sent, stop = time.monotonic(), 0, asyncio.Event()

        async def pump():
            nonlocal sent
            writer.write(head)
            try:
                while sent < limit_bytes and not stop.is_set() and time.monotonic() - started < limit_s:
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
            except (ConnectionError, OSError):
                pass

        pumping = asyncio.ensure_future(pump())
        try:
            line = await asyncio.wait_for(reader.readline(), limit_s)
        except (ConnectionError, OSError, asyncio.TimeoutError) as e:
            line = repr(e).encode()
        answered, at = time.monotonic() - started, sent
        # Keep sending after the answer: the server must still close within its linger bound.
        closed, _ = await closed_within(reader, LINGER + 5)
        stop.set()
        await asyncio.wait_for(pumping, 10)
        writer.close()
        return line.decode(errors="replace").strip(), answered, at, closed

    chunk = b"x" * 65536
    honest = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    cases = {
        "over the cap, honest Content-Length": (honest + f"Content-Length: {4 * MAX_BODY}\r\n\r\n".encode(),
                                                chunk, 4 * MAX_BODY),
        "Content-Length of 1 TB, nothing sent": (honest + b"Content-Length: 1000000000000\r\n\r\n", b"", 0),
        "Content-Length of 1 TB, 64 MiB sent": (honest + b"Content-Length: 1000000000000\r\n\r\n", chunk,
                                                64 << 20),
        "chunked without end, 64 MiB sent": (honest + b"Transfer-Encoding: chunked\r\n\r\n",
                                             b"10000\r\n" + chunk + b"\r\n", 64 << 20),
    }
    ok = True
    for name, (head, c, limit) in cases.items():
        line, answered, at, closed = await send_until_answer(head, c, limit, 30)
        good = " 413 " in line + " " and answered < 5 and closed is not None
        ok &= good
        out[name] = {"status_line": line, "answered_s": round(answered, 2), "sent_before_answer": at,
                     "closed_after_answer_s": closed and round(closed, 2)}
        print(f"  {name}: {line!r} after {answered:.2f} s and {at} bytes sent; closed {closed} s later", flush=True)
    # A short lying Content-Length: the rest of the bytes are a malformed next request (400, closed).
    r = await call(checks.port, "POST", "/api/predict", b'{"model": "bert-tiny"}' + b"x" * 4096,
                   headers={"Content-Length": "5", "Content-Type": "application/json"}, timeout=10)
    out["short Content-Length"] = r.status
    ok &= r.status == 400
    after = await call(checks.port, "POST", "/api/predict", predict_body(TEXTS[0], "reference"), timeout=30)
    rss1 = checks.server.rss_mib()
    growth_ok = rss1 - rss0 < 32  # each body is refused at 1 MiB: nothing near 64 MiB may be held
    out["rss_mib"] = [round(rss0, 1), round(rss1, 1)]
    checks.report["body_caps"] = out
    checks.record("bodies over the cap", ok and growth_ok and after.status == 200,
                  f"413 within 5 s and closed within {LINGER + 5} s in all four cases: {ok}; short Content-Length "
                  f"-> {r.status}; RSS {rss0:.0f} -> {rss1:.0f} MiB (bound +32); next predict {after.status}")


# (d) Requests cancelled mid-way: before their answer, and during a long explanation.
async def cancellation(checks):
    rss0 = checks.server.rss_mib()
    for i in range(100):  # send and close before reading
        _, w = await asyncio.open_connection(HOST, checks.port)
        w.write(request_bytes("POST", "/api/predict", predict_body(TEXTS[i % 4], f"gone{i}")))
        await w.drain()
        w.close()
    long_body = {"model": MODEL, "method": "ig", "config": {"steps": 256},
                 "examples": [{"id": f"l{i}", "text": TEXTS[i % 4] + f" take {i} ."} for i in range(8)]}
    one = await call(checks.port, "POST", "/api/explain", long_body, timeout=600)
    assert one.status == 200, one.body
    t1 = one.seconds
    await asyncio.sleep(1)  # any of the 100 predicts still queued behind the explanation is done by now
    log_before = checks.server.log_text().count("/api/explain cancelled")
    k = 6
    conns = [await asyncio.open_connection(HOST, checks.port) for _ in range(k)]
    for _, w in conns:
        w.write(request_bytes("POST", "/api/explain", long_body))
        await w.drain()
    await asyncio.sleep(min(1.0, t1 / 4))
    for _, w in conns:
        w.close()
    r = await call(checks.port, "POST", "/api/predict", predict_body(TEXTS[2], "after-cancel"), timeout=600)
    await asyncio.sleep(1)
    cancelled = checks.server.log_text().count("/api/explain cancelled") - log_before
    rss1 = checks.server.rss_mib()
    # Without cancellation the predict waits behind the k explanations (about k × t1 less the second waited);
    # with it, behind the rest of the one example in progress (about t1 / 8). The bound, one whole explanation,
    # leaves room for a loaded machine and still fails the uncancelled server by (k − 1) × t1.
    bound = t1
    ok = r.status == 200 and r.seconds < bound and cancelled == k and rss1 - rss0 < 64
    checks.report["cancellation"] = {"explain_alone_s": round(t1, 2), "predict_after_cancel_s": round(r.seconds, 2),
                                     "bound_s": round(bound, 2), "cancelled_logged": cancelled,
                                     "rss_mib": [round(rss0, 1), round(rss1, 1)]}
    checks.record("cancelled requests", ok,
                  f"100 predicts closed unread; {k} IG explanations ({t1:.1f} s each alone) closed after "
                  f"{min(1.0, t1 / 4):.1f} s: a predict then took {r.seconds:.2f} s (bound {bound:.1f} s, "
                  f"{k} × {t1:.1f} s without cancellation), {cancelled} cancellations logged (want {k}); "
                  f"RSS {rss0:.0f} -> {rss1:.0f} MiB (bound +64)")
