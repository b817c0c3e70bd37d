"""Echo agent for the LocalStack smoke test.

Speaks the HTTP agent contract of shared/dispatch: a POST carries a JSON task
({"task_id", "agent_id", "text", "input", "attempt", ...}); the answer is JSON whose "output" is
the task's text. GET /healthz answers 200 for the compose health check. Standard library only.
"""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._reply(200, {"ok": True})
        else:
            self._reply(405, {"error": "POST a task"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": "task too large"})
            return
        try:
            task = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as err:
            self._reply(400, {"error": "body is not an agent request: %s" % err})
            return
        self._reply(200, {
            "output": task.get("text", ""),
            "task_id": task.get("task_id"),
            "attempt": task.get("attempt"),
        })

    def log_message(self, fmt, *args):
        print("echo-agent: " + fmt % args, flush=True)


if __name__ == "__main__":
    host = os.environ.get("HOST", "0.0.0.0")  # inside its container; compose publishes no port
    port = int(os.environ.get("PORT", "8080"))
    print("echo-agent: listening on :%d" % port, flush=True)
    ThreadingHTTPServer((host, port), Handler).serve_forever()
