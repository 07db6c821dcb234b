#!/usr/bin/env python3
"""A scripted stand-in for llama-server, for supervision tests. Standard library only.

Run it as the engine binary (through a wrapper script: `exec python3 this.py "$@"`).
It accepts llama-server's flags and behaves as its environment says:

    FAKE_LLAMA_HELP          new (default) | old | garbage: which `--help` text to print
    FAKE_LLAMA_LOAD_S        seconds of "loading model" (/health answers 503) after binding
    FAKE_LLAMA_EXIT_AT_START exit with this code during loading, after printing an error
    FAKE_LLAMA_CRASH_AFTER   abort (SIGABRT) after answering this many completions
    FAKE_LLAMA_IGNORE_TERM   1: ignore SIGTERM (the supervisor must SIGKILL)
    FAKE_LLAMA_ARGV_FILE     append this process's argv as one JSON line to this file
    FAKE_LLAMA_ACCEPT        draft tokens accepted per completion when a draft model is set
    FAKE_LLAMA_ANSWER_S      seconds each completion takes before its answer is sent
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Excerpts of real `llama-server --help` texts (HELP_NEW: from llama-cpp-python 0.3.36's
# vendored llama.cpp); the layout is what the prober parses.
HELP_NEW = """\
----- common params -----

-h,    --help, --usage                  print usage and exit
--version                               show version and build info
-t,    --threads N                      number of CPU threads to use during generation
                                        (default: -1)
                                        (env: LLAMA_ARG_THREADS)
-c,    --ctx-size N                     size of the prompt context (default: 0, 0 = loaded
                                        from model)
                                        (env: LLAMA_ARG_CTX_SIZE)
-ngl,  --gpu-layers, --n-gpu-layers N   max. number of layers to store in VRAM
-m,    --model FNAME                    model path to load
                                        (env: LLAMA_ARG_MODEL)
--pooling {none,mean,cls,last,rank}     pooling type for embeddings, use model default if
                                        unspecified
-np,   --parallel N                     number of server slots (default: -1, -1 = auto)
--host HOST                             ip address to listen, or bind to an UNIX socket if the
                                        address ends with .sock (default: 127.0.0.1)
--port PORT                             port to listen (default: 8080)
--embedding, --embeddings               restrict to only support embedding use case; use only
                                        with dedicated embedding models (default: disabled)
--metrics                               enable prometheus compatible metrics endpoint
--spec-draft-n-max N                    number of tokens to draft (was --draft-max)
                                        (default: 16)
--spec-draft-n-min N                    minimum number of draft tokens to use for speculative
                                        decoding (default: 0)
--spec-draft-p-min, --draft-p-min P     minimum speculative decoding probability (greedy)
-ngld, --spec-draft-ngl, --gpu-layers-draft, --n-gpu-layers-draft N
                                        max. number of draft model layers to store in VRAM
-md,   --spec-draft-model, --model-draft FNAME
                                        draft model for speculative decoding (default: unused)
--draft, --draft-n, --draft-max N       the argument has been removed. use --spec-draft-n-max or
                                        --spec-ngram-*-size-n
--spec-type none,draft-simple,draft-eagle3,draft-mtp,ngram-simple
                                        comma-separated list of types of speculative decoding
"""

HELP_OLD = """\
-h,    --help, --usage                  print usage and exit
-t,    --threads N                      number of threads to use during generation (default: -1)
-c,    --ctx-size N                     size of the prompt context (default: 4096, 0 = loaded
                                        from model)
-m,    --model FNAME                    model path (default: `models/$filename`)
-ngl,  --gpu-layers, --n-gpu-layers N   number of layers to store in VRAM
-np,   --parallel N                     number of parallel sequences to decode (default: 1)
--host HOST                             ip address to listen (default: 127.0.0.1)
--port PORT                             port to listen (default: 8080)
--embedding, --embeddings               restrict to only support embedding use case
--pooling {none,mean,cls,last,rank}     pooling type for embeddings
--draft-max, --draft, --draft-n N       number of tokens to draft for speculative decoding
                                        (default: 16)
--draft-min, --draft-n-min N            minimum number of draft tokens (default: 0)
-md,   --model-draft FNAME              draft model for speculative decoding (default: unused)
"""

HELP_NO_SPEC = "\n".join(
    line for line in HELP_OLD.splitlines() if "draft" not in line and "speculative" not in line
)

HELPS = {"new": HELP_NEW, "old": HELP_OLD, "nospec": HELP_NO_SPEC, "garbage": "usage: cat\n"}


def _arg(argv: list[str], *names: str, default: str | None = None) -> str | None:
    for i, token in enumerate(argv):
        if token in names and i + 1 < len(argv):
            return argv[i + 1]
    return default


class _State:
    def __init__(self, argv: list[str]) -> None:
        self.ready_at = time.monotonic() + float(os.environ.get("FAKE_LLAMA_LOAD_S", "0"))
        self.crash_after = int(os.environ.get("FAKE_LLAMA_CRASH_AFTER", "0"))
        self.accept = int(os.environ.get("FAKE_LLAMA_ACCEPT", "3"))
        self.answer_s = float(os.environ.get("FAKE_LLAMA_ANSWER_S", "0"))
        self.draft = _arg(argv, "-md", "--model-draft", "--spec-draft-model") is not None
        self.answered = 0
        self.lock = threading.Lock()


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            print(f"request {self.command} {self.path}", flush=True)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                if time.monotonic() < state.ready_at:
                    self._json(503, {"error": {"code": 503, "message": "Loading model"}})
                else:
                    self._json(200, {"status": "ok"})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            self.rfile.read(length)
            if state.answer_s:
                time.sleep(state.answer_s)
            timings: dict[str, Any] = {"predicted_per_second": 100.0}
            if state.draft:
                timings.update(draft_n=4, draft_n_accepted=state.accept)
            self._json(
                200,
                {
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "ok"},
                        }
                    ],
                    "timings": timings,
                },
            )
            with state.lock:
                state.answered += 1
                crash = state.crash_after and state.answered >= state.crash_after
            if crash:
                print("GGML_ASSERT failed: fake crash", flush=True)
                os.kill(os.getpid(), signal.SIGABRT)

    return Handler


def write_wrapper(directory: str | os.PathLike[str], **env: str | int | float) -> str:
    """An executable `llama-server` in `directory` that runs this fake with `env` set
    (keys without the FAKE_LLAMA_ prefix: `write_wrapper(d, LOAD_S=0.5)`)."""
    path = os.path.join(directory, "llama-server")
    exports = "".join(f"export FAKE_LLAMA_{k}='{v}'\n" for k, v in env.items())
    with open(path, "w") as handle:
        handle.write(f'#!/bin/sh\n{exports}exec {sys.executable} {__file__} "$@"\n')
    os.chmod(path, 0o755)
    return path


def main(argv: list[str]) -> int:
    if "--help" in argv or "-h" in argv:
        sys.stdout.write(HELPS[os.environ.get("FAKE_LLAMA_HELP", "new")])
        return 0
    if "--version" in argv:
        print("version: 0 (fake)")
        return 0
    if path := os.environ.get("FAKE_LLAMA_ARGV_FILE"):
        with open(path, "a") as handle:
            handle.write(json.dumps(argv) + "\n")
    if os.environ.get("FAKE_LLAMA_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    host = _arg(argv, "--host", default="127.0.0.1") or "127.0.0.1"
    port = int(_arg(argv, "--port", default="8080") or "8080")
    state = _State(argv)
    print(f"main: loading model {_arg(argv, '-m', '--model')}", flush=True)
    server = ThreadingHTTPServer((host, port), _handler(state))
    print(f"main: server is listening on http://{host}:{port}", flush=True)
    if code := os.environ.get("FAKE_LLAMA_EXIT_AT_START"):
        time.sleep(0.05)
        print("error: failed to load model", flush=True)
        return int(code)
    server.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
