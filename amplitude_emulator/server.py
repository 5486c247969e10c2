"""The loopback HTTP server: parses requests, applies armed faults, dispatches to endpoints."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from amplitude_emulator.http import Request, Response, find_route
from amplitude_emulator.state import Arrival, EmulatorState, LoggedRequest

if TYPE_CHECKING:
    from collections.abc import Iterable

# Endpoint modules register their routes on import.
from amplitude_emulator import control, dashboard, export, ingestion  # noqa: F401  isort: skip
from amplitude_emulator import cohort_downloads, taxonomy  # noqa: F401  isort: skip
from amplitude_emulator import cohort_control, cohort_uploads  # noqa: F401  isort: skip
from typing_extensions import Self

CHUNK = 1024 * 1024


def _body_bytes(response: Response) -> bytes:
    """The whole body in memory (only used by faults that rewrite a body)."""
    if isinstance(response.body, bytes):
        return response.body
    if isinstance(response.body, Path):
        return response.body.read_bytes()
    return b"".join(response.body)


def _apply_fault_after(request: Request, response: Response) -> Response:
    """Faults that replace a successful answer's body."""
    fault = request.fault
    if fault is None or response.status != 200 or fault.kind not in {"truncate", "notzip"}:
        return response
    try:
        if fault.kind == "truncate":
            whole = _body_bytes(response)
            return Response(200, whole[: max(1, len(whole) // 2)], dict(response.headers))
        page = "<html><head><title>Rate limited</title></head><body>Try again later</body></html>"
        return Response.text(200, page, "text/html")
    finally:
        _close_body(response)


def _close_body(response: Response) -> None:
    """Release a streamed body (a served temp archive deletes itself)."""
    close = getattr(response.body, "close", None)
    if close is not None:
        close()


INGESTION_PATHS = frozenset({"/batch", "/2/httpapi", "/identify", "/groupidentify", "/usermap"})


def _hold_latency(state: EmulatorState, path: str) -> None:
    """Hold the request for the configured steady latency (its own thread: others overlap)."""
    limits = state.limits
    delay = (
        limits.ingestion_latency_seconds
        if path in INGESTION_PATHS
        else limits.dashboard_latency_seconds
    )
    if delay > 0:
        time.sleep(delay)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per keep-alive request), a stall real Amplitude does not have.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Silence the default stderr access log; the request log is in the state."""

    def _handle(self) -> None:
        state = self.server.state
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=parsed.path,
            query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
            headers=dict(self.headers.items()),
            body=body,
        )
        if parsed.path.startswith("/__emulator__/"):
            self._send(request, self._dispatch(request, state))
            return
        received_at = state.now()
        state.request_arrived(Arrival(request.method, request.path, request.query, received_at))
        try:
            request.fault = state.take_fault(request.method, request.path)
            _hold_latency(state, parsed.path)
            response = self._dispatch(request, state)
            state.log_request(
                LoggedRequest(
                    request.method,
                    request.path,
                    request.query,
                    response.status,
                    len(body),
                    state.now(),
                    body if state.limits.log_request_bodies else b"",
                    received_at,
                )
            )
            self._send(request, response)
        finally:
            state.request_finished()

    def _dispatch(self, request: Request, state: EmulatorState) -> Response:
        fault = request.fault
        if fault is not None and fault.kind == "status":
            body = fault.response_body()
            if isinstance(body, str):
                headers = {"Content-Type": "text/html", **fault.headers}
                return Response(fault.status, body.encode(), headers)
            return Response.json(fault.status, body, fault.headers)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        found, path_known = find_route(request.method, request.path)
        if found is None:
            if path_known:
                return Response.json(405, {"code": 405, "error": "Method Not Allowed"})
            return Response.json(404, {"code": 404, "error": "Invalid request path"})
        try:
            response = found.handler(request, state)
        except Exception as exc:  # noqa: BLE001  the emulator must answer, like a real server
            return Response.json(500, {"code": 500, "error": f"emulator bug: {exc!r}"})
        return _apply_fault_after(request, response)

    def _send(self, request: Request, response: Response) -> None:
        chunks: Iterable[bytes]
        if isinstance(response.body, bytes):
            length = len(response.body)
            chunks = [response.body]
        elif isinstance(response.body, Path):
            length = response.body.stat().st_size
            chunks = _file_chunks(response.body)
        elif response.content_length is None:
            data = b"".join(response.body)
            length, chunks = len(data), [data]
        else:
            length, chunks = response.content_length, response.body
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            if request.method == "HEAD":
                return
            if request.fault is not None and request.fault.kind == "drop":
                data = b"".join(chunks)
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            for chunk in chunks:
                self.wfile.write(chunk)
        finally:
            _close_body(response)  # a served archive is deleted now, not when collected

    do_GET = _handle  # noqa: N815
    do_POST = _handle  # noqa: N815
    do_PUT = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815


def _file_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        super().__init__(address, _Handler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up (timeouts, drop faults) are expected; only print real errors."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class Emulator:
    """A running emulator: `url`, `state`, and `stop()`. Use as a context manager."""

    def __init__(self, port: int = 0, seed: int = 7, host: str = "127.0.0.1") -> None:
        self.state = EmulatorState(seed)
        self._server = _Server((host, port), self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:40123 (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Emulator:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.state.temp_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def describe(self) -> str:
        """One JSON line a script can read: URL and credentials of both projects."""
        projects = [
            {"project_id": p.project_id, "api_key": p.api_key, "secret_key": p.secret_key}
            for p in self.state.projects.values()
        ]
        return json.dumps({"url": self.url, "projects": projects})
