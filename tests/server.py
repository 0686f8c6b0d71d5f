"""A real HTTP server on 127.0.0.1 for tests: routes map paths to responses, faults included."""

from __future__ import annotations

import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Response:
    """A canned response; `delay` sleeps before answering."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0
    """Seconds between single bytes of the body: a server that drips."""
    reset_after: int | None = None
    """Reset the connection after this many body bytes (the full length is declared)."""
    etag: str | None = None
    """Sent as ETag; a request whose If-None-Match matches gets an empty 304."""


Route = Response | Callable[[BaseHTTPRequestHandler], Response]


class Gate:
    """A route that holds its response until `open()`: catches a run in the middle, on demand."""

    def __init__(self, response: Response):
        self.response = response
        self.entered = threading.Event()
        """Set when a request is being held."""
        self._open = threading.Event()

    def open(self) -> None:
        """Let held and later requests through."""
        self._open.set()

    def __call__(self, handler: BaseHTTPRequestHandler) -> Response:
        self.entered.set()
        self._open.wait(timeout=120)
        return self.response


class _Server(ThreadingHTTPServer):
    # Many clients connect at once (benchmarks); the default backlog of 5 would refuse some.
    request_queue_size = 512

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-request are part of the fault tests, not server errors.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class TestServer:
    """Serves `routes` (path -> Response or function of the request) and logs every request."""

    __test__ = False

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """`tls`: a server-side context to serve HTTPS with (its URLs stay http:// in `url`)."""
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.started: list[tuple[float, str]] = []
        """(time.monotonic(), path) of every request, as it arrived."""
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        """Most requests at once per first path segment (the mirrored host)."""
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                key = self.path.split("/", 2)[1] if self.path.count("/") >= 2 else ""
                with server._lock:
                    server.started.append((time.monotonic(), self.path))
                    server.in_flight[key] = server.in_flight.get(key, 0) + 1
                    server.max_in_flight[key] = max(
                        server.max_in_flight.get(key, 0), server.in_flight[key]
                    )
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight[key] -= 1

            def _answer(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    response = Response(b"not found", 404)
                elif isinstance(route, Response):
                    response = route
                else:
                    response = route(self)
                if response.delay:
                    time.sleep(response.delay)
                if response.etag is not None and self.headers.get("If-None-Match") == response.etag:
                    self.send_response(304)
                    self.send_header("ETag", response.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(response.status)
                headers = {"Content-Type": "text/html; charset=utf-8", **response.headers}
                if response.etag is not None:
                    headers["ETag"] = response.etag
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if response.reset_after is not None:
                    self.wfile.write(response.body[: response.reset_after])
                    self.wfile.flush()
                    # SO_LINGER 0: close() sends a TCP reset instead of a clean FIN.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                if response.drip:
                    try:
                        for offset in range(len(response.body)):
                            self.wfile.write(response.body[offset : offset + 1])
                            self.wfile.flush()
                            time.sleep(response.drip)
                    except OSError:
                        self.close_connection = True
                    return
                self.wfile.write(response.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        # A short poll interval: stop() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        """The absolute URL of a path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        """How many requests asked for a path."""
        return sum(1 for p, _ in self.requests if p == path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
