"""A loopback HTTP server for backend tests: every POST is recorded and answered by a ``reply`` function.

``reply(path, body)`` gets the path and the parsed JSON body (None when it is not JSON) and returns
``(status, payload)`` or ``(status, payload, headers)``; a payload that is ``bytes`` is sent as is
(bad JSON, HTML), anything else as JSON. Listens on 127.0.0.1 only: tests never leave the machine.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


class StandIn:
    """A threaded server on 127.0.0.1 answering POSTs with ``reply``; ``requests`` holds what it was sent."""

    def __init__(self, reply: Callable[[str, Any], tuple], delay: float = 0.0):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    body = None
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "json": body})
                time.sleep(delay)
                status, payload, *rest = reply(self.path, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **(rest[0] if rest else {})}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (the timeout tests)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: nothing listens there (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
