"""A local stand-in for the Hugging Face Hub's HTTP API: the tests point HF_ENDPOINT at it."""

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

# answer(path, headers) -> (status, JSON body, extra headers)
Answer = Callable[[str, dict], tuple[int, dict, dict]]


@contextmanager
def hub_api(answer: Answer):
    """Serve `answer` on a free loopback port; yields (base URL, list of requested paths)."""
    asked: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.append(self.path)
            status, body, headers = answer(self.path, dict(self.headers))
            blob = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"content-type": "application/json", "content-length": str(len(blob)),
                               **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(blob)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
