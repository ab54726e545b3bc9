"""A local stand-in for the Hugging Face Hub's HTTP API: the tests point HF_ENDPOINT at it."""

import base64
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

# answer(path, headers) -> (status, JSON body, extra headers)
Answer = Callable[[str, dict], tuple[int, dict, dict]]
# post(path, headers, body bytes) -> (status, JSON body, extra headers)
PostAnswer = Callable[[str, dict, bytes], tuple[int, dict, dict]]


@contextmanager
def hub_api(answer: Answer, post: Optional[PostAnswer] = None):
    """Serve `answer` (GET) and `post` (POST) on a free loopback port; yields (base URL, list of
    requested paths, POSTs as "POST <path>")."""
    asked: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict, headers: dict) -> None:
            blob = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"content-type": "application/json", "content-length": str(len(blob)),
                               **headers}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(blob)

        def do_GET(self):  # noqa: N802
            asked.append(self.path)
            self._reply(*answer(self.path, dict(self.headers)))

        def do_POST(self):  # noqa: N802
            asked.append(f"POST {self.path}")
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            self._reply(*(post(self.path, dict(self.headers), body) if post else (404, {"error": "no POST here"}, {})))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()


class FakeHub:
    """What the stub was asked to create and commit, by repo."""

    def __init__(self, token: str = "hf_test", refuse: bool = False):
        self.token, self.refuse, self.url = token, refuse, ""
        self.created: list[dict] = []
        self.commits: list[dict] = []  # {"repo", "summary", "files": {path: bytes}}

    def get(self, path, headers):
        return 404, {"error": f"no {path}"}, {}

    def post(self, path, headers, body):
        if headers.get("Authorization", headers.get("authorization")) != f"Bearer {self.token}" or self.refuse:
            return 401, {"error": "Invalid credentials in Authorization header"}, {"x-error-message": "Invalid token"}
        if path == "/api/repos/create":
            spec = json.loads(body)
            self.created.append(spec)
            return 200, {"url": f"{self.url}/{spec['organization']}/{spec['name']}"}, {}
        if path == "/api/validate-yaml":
            return 200, {}, {}
        if "/preupload/" in path:  # every file goes inline in the commit ("regular"), no LFS round trip
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                   for f in files]}, {}
        if "/commit/" in path:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            files = {x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"}
            repo = path.split("/api/models/")[1].split("/commit/")[0]
            self.commits.append({"repo": repo, "summary": header["summary"], "files": files})
            return 200, {"commitUrl": f"{self.url}/{repo}/commit/{'abc' * 13}a", "commitOid": "abc" * 13 + "a",
                         "pullRequestUrl": None}, {}
        return 404, {"error": f"no POST {path}"}, {}
