"""Local alert sinks on loopback, started and stopped by the tests: an SMTP server (aiosmtpd)
and an HTTP server that records POSTed bodies."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@contextmanager
def smtp_sink(port: int = 0):
    """An SMTP server on 127.0.0.1; yields (port, list of received EmailMessage)."""
    inbox = _Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port or _free())
    ctl.start()
    try:
        yield ctl.port, inbox.messages
    finally:
        ctl.stop()


@contextmanager
def http_sink():
    """An HTTP server on 127.0.0.1; yields (url, list of received JSON bodies)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            n = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(n).decode("utf-8")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/alerts", received
    finally:
        srv.shutdown()
        srv.server_close()


def _free() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body_text(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html", "plain"))
    return part.get_content() if part is not None else ""
