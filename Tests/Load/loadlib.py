"""The load driver's plumbing: a raw-socket HTTP/1.1 client on asyncio, `loupe serve` as a child process, statistics.

Standard library only, so CI runs it with the system python3. Every connection goes to 127.0.0.1 (loopback) and
every wait has a deadline, so no call here can hang the run.
"""
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"


class Reply:
    """One HTTP response: status, lower-cased headers, body, and the seconds from connect to its last byte."""

    def __init__(self, status, headers, body, seconds):
        self.status, self.headers, self.body, self.seconds = status, headers, body, seconds

    def json(self):
        return json.loads(self.body)


async def read_reply(reader, started, timeout):
    """Reads one response (Content-Length or chunked) within `timeout` seconds; raises on EOF before its end."""

    async def body():
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed before a status line")
        parts = line.decode("latin-1").split(" ", 2)
        status = int(parts[1])
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            data = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await reader.read()
        return Reply(status, headers, data, time.monotonic() - started)

    return await asyncio.wait_for(body(), timeout)


def request_bytes(method, path, body=None, headers=None, close=True):
    """The bytes of one request; a dict body is sent as JSON."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    h = dict(headers or {})
    if body is not None:
        h.setdefault("Content-Type", "application/json")
        h.setdefault("Content-Length", str(len(body)))
    if close:
        h.setdefault("Connection", "close")
    lines += [f"{k}: {v}" for k, v in h.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def call(port, method, path, body=None, timeout=120.0, headers=None):
    """One request on a new connection: its Reply (connection errors propagate to the caller, who counts them)."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    try:
        writer.write(request_bytes(method, path, body, headers))
        await writer.drain()
        return await read_reply(reader, started, timeout)
    finally:
        writer.close()


async def closed_within(reader, seconds):
    """Seconds until the server closes the connection (EOF or reset), reading and keeping what it sends; None if
    it is still open after `seconds`. Returns (seconds, bytes received)."""
    started, got = time.monotonic(), b""
    while time.monotonic() - started < seconds:
        try:
            data = await asyncio.wait_for(reader.read(65536), max(0.01, seconds - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            return None, got
        except (ConnectionError, OSError):
            return time.monotonic() - started, got
        if not data:
            return time.monotonic() - started, got
        got += data
    return None, got


def percentiles(values):
    """p50 / p90 / p99 / max in milliseconds (nearest-rank), and the count."""
    if not values:
        return {"n": 0}
    v = sorted(values)

    def rank(p):
        return v[min(len(v), max(1, math.ceil(p / 100 * len(v)))) - 1]

    return {"n": len(v), "p50_ms": round(rank(50) * 1e3, 1), "p90_ms": round(rank(90) * 1e3, 1),
            "p99_ms": round(rank(99) * 1e3, 1), "max_ms": round(v[-1] * 1e3, 1)}


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """`loupe serve` on a free loopback port, its log in a temporary file, its RSS from /proc."""

    def __init__(self, loupe, model, data, cache_mb, extra=()):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="loupe-load-", suffix=".log", delete=False)
        args = [loupe, "serve", "--model", f"bert-tiny={model}", "--data", f"reviews={data}",
                "--port", str(self.port), "--cache-mb", str(cache_mb), *extra]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"loupe serve exited with {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"loupe serve did not listen on port {self.port} within 60 s")

    def rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.log.name)
