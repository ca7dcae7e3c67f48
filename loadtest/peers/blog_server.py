"""The blog post's server: Python's http.server, BaseHTTPRequestHandler + HTTPServer.

Written the way the post describes it (json.dumps of the message, which gives the 52-byte body
with spaces after the colon and comma). Like the post's server it speaks HTTP/1.0, so every
response closes its connection. One change: request logging to stderr is switched off, so the
load test measures serving rather than terminal output.

Usage: python3 blog_server.py PORT
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

ROUTES = {
    "/": ("application/json", json.dumps({"message": "Hello bro, this is your HTTP response"}).encode()),
    "/plaintext": ("text/plain", b"Hello, World!"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/json":
            # Serialized per request, like the other servers' /json.
            route = ("application/json", json.dumps({"message": "Hello, World!"}, separators=(",", ":")).encode())
        else:
            route = ROUTES.get(self.path)
        if route is None:
            self.send_error(404)
            return
        content_type, body = route
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = HTTPServer(("127.0.0.1", port), Handler)
    print(f"blog http.server listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
