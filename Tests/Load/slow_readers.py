"""The write side of `loupe serve` (issue #17): a client that reads its response slowly gets all of it, and one that
never reads is closed after the write timeout. Part of load_test.py (check "readers")."""
import asyncio
import json
import socket
import time

from loadlib import HOST, request_bytes

WRITE_TIMEOUT = 30  # s: `--write-timeout`, the server's default
RATE = 150_000  # bytes/s: the slow reader (a 1.2 Mbit/s link)


def big_request():
    """A predict request whose answer is ~5.4 MB (1,024 texts with embeddings and logits): far more than the socket
    buffers hold, so the server must keep sending after the response is complete."""
    texts = [{"id": f"r{i}", "text": f"a gorgeous , witty , seductive movie , take {i} ."} for i in range(1024)]
    return request_bytes("POST", "/api/predict", {"model": "bert-tiny", "examples": texts,
                                                   "include_embeddings": True, "include_logits": True})


async def connect_small_window(port):
    """A connection whose receive buffer is 4 KB, so what the client does not read stays on the server's side."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, (HOST, port))
    return await asyncio.open_connection(sock=s, limit=16384)


async def slow_reader(port):
    """Reads the whole answer at RATE; returns (seconds, status line, Content-Length, body bytes, JSON ok)."""
    reader, writer = await connect_small_window(port)
    started = time.monotonic()
    try:
        writer.write(big_request())
        await writer.drain()
        got = b""
        while time.monotonic() - started < 300:
            data = await asyncio.wait_for(reader.read(8192), 60)
            if not data:
                break
            got += data
            await asyncio.sleep(len(data) / RATE)
    except (ConnectionError, OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(h.split(":", 1)[1]) for h in lines[1:] if h.lower().startswith("content-length:")), None)
    try:
        whole = len(json.loads(body)["predictions"]) == 1024
    except (ValueError, KeyError):
        whole = False
    return time.monotonic() - started, lines[0], length, len(body), whole


def server_side_established(server_port, client_port):
    """Whether the server's end of the connection from `client_port` is still ESTABLISHED (/proc/net/tcp: local and
    remote address:port in hex, state 01); once the server closes it, it is FIN_WAIT1 or gone."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                return state == "01"
    return False


async def never_reader(port):
    """Sends the request and reads nothing; returns the seconds until the server closed its end of the connection,
    or None if it still holds it WRITE_TIMEOUT + 30 s later."""
    reader, writer = await connect_small_window(port)
    client_port = writer.get_extra_info("sockname")[1]
    started = time.monotonic()
    writer.write(big_request())
    await writer.drain()
    try:
        while time.monotonic() - started < WRITE_TIMEOUT + 30:
            if not server_side_established(port, client_port):
                return time.monotonic() - started
            await asyncio.sleep(0.5)
        return None
    finally:
        writer.close()


async def readers(checks):
    (seconds, status, length, size, whole), gone = await asyncio.gather(
        slow_reader(checks.port), never_reader(checks.port))
    checks.report["readers"] = {"slow_seconds": round(seconds, 1), "content_length": length, "received": size,
                                "never_reader_closed_s": gone and round(gone, 1)}
    checks.record("slow reader", status.endswith("200 OK") and length == size and whole,
                  f"a {length}-byte answer read at {RATE // 1000} kB/s: {size} bytes in {seconds:.1f} s "
                  f"({'all 1024 predictions' if whole else 'cut short'})")
    checks.record("never-reading client", gone is not None and gone <= WRITE_TIMEOUT + 15,
                  f"the server let go of a client that read nothing of its answer after "
                  f"{'%.1f s' % gone if gone else 'more than %d s' % (WRITE_TIMEOUT + 30)} "
                  f"(write timeout {WRITE_TIMEOUT} s)")
