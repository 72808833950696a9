"""A tiny HTTP server that answers every GET with the current time."""

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer


class ClockHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = datetime.now(UTC).isoformat().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(port: int = 8000) -> None:
    HTTPServer(("127.0.0.1", port), ClockHandler).serve_forever()
