"""Blocking HTTP client for the relay API, used from node code on ComfyUI's worker thread.

One persistent loopback connection per thread: frames are posted at video rates, and a new
TCP connection per frame (what the original did) costs more than the copy itself.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class RelayError(Exception):
    """A relay call failed; ``code`` is the relay's snake_case error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})" if status else message)
        self.status = status
        self.code = code
        self.message = message


class RelayUnavailable(RelayError):
    """The relay could not be reached at all."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "relay_unavailable", message)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class RelayEndpoint:
    """Where the relay listens and the bearer token it accepts."""

    url: str
    token: str = field(repr=False)

    @property
    def host_port(self) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(self.url)
        return parsed.hostname or "127.0.0.1", parsed.port or 80


def error_from_response(status: int, body: bytes) -> RelayError:
    """Turns a relay error body ``{"error": {"code", "message"}}`` into a ``RelayError``."""
    try:
        detail = json.loads(body)["error"]
        return RelayError(status, str(detail["code"]), str(detail["message"]))
    except (ValueError, KeyError, TypeError):
        text = body.decode("utf-8", "replace").strip()[:200]
        return RelayError(status, "http_error", text or http.client.responses.get(status, ""))


class _NoDelayConnection(http.client.HTTPConnection):
    """Headers and body go out as separate writes; Nagle would hold the body back."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RelayClient:
    """Calls the relay HTTP API with the bearer token; raises ``RelayError`` on 4xx/5xx."""

    def __init__(self, endpoint: RelayEndpoint, timeout: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            host, port = self.endpoint.host_port
            connection = _NoDelayConnection(host, port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _drop_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        all_headers = {"Authorization": f"Bearer {self.endpoint.token}", **(headers or {})}
        if payload is not None:
            body = json.dumps(payload).encode()
            all_headers["Content-Type"] = "application/json"
        # A kept-alive connection may have been closed by the relay since the last call; a
        # request that failed before any response can be sent again on a fresh connection.
        for attempt in (0, 1):
            connection = self._connection()
            connection.timeout = timeout or self.timeout
            if connection.sock is not None:
                connection.sock.settimeout(connection.timeout)
            try:
                connection.request(method, path, body=body, headers=all_headers)
                reply = connection.getresponse()
                data = reply.read()
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                self._drop_connection()
                stale = isinstance(
                    error, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                )
                if attempt == 0 and stale:
                    continue
                raise RelayUnavailable(
                    f"cannot reach rtc-relay at {self.endpoint.url}: {error}"
                ) from error
            if reply.getheader("Connection", "").lower() == "close":
                self._drop_connection()
            response = Response(reply.status, dict(reply.getheaders()), data)
            if reply.status >= 400:
                raise error_from_response(reply.status, data)
            return response
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> Any:
        return self.request(method, path, payload=payload, **kwargs).json()

    # Streams -------------------------------------------------------------------------------

    def create_stream(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/v1/streams", dict(body), timeout=120.0)

    def get_stream(self, stream_id: str) -> dict[str, Any]:
        return self.call("GET", f"/v1/streams/{_segment(stream_id)}")

    def list_streams(self) -> dict[str, Any]:
        return self.call("GET", "/v1/streams")

    def update_stream(self, stream_id: str, pipeline_config: Mapping[str, Any]) -> dict[str, Any]:
        return self.call(
            "PATCH",
            f"/v1/streams/{_segment(stream_id)}",
            {"pipeline_config": dict(pipeline_config)},
            timeout=60.0,
        )

    def delete_stream(self, stream_id: str) -> None:
        self.call("DELETE", f"/v1/streams/{_segment(stream_id)}")

    def push_frame(self, stream_id: str, pixels: bytes, width: int, height: int) -> dict[str, Any]:
        return self.call(
            "POST",
            f"/v1/streams/{_segment(stream_id)}/frames",
            body=pixels,
            headers={
                "Content-Type": "application/octet-stream",
                "X-Frame-Width": str(width),
                "X-Frame-Height": str(height),
                "X-Frame-Format": "rgb8",
            },
        )

    def fetch_output(self, stream_id: str, after: int, wait_ms: int) -> OutputFrame | None:
        """The newest processed frame after sequence ``after``; None if none came in time."""
        query = urllib.parse.urlencode({"after": after, "wait_ms": wait_ms, "format": "rgb8"})
        response = self.request(
            "GET",
            f"/v1/streams/{_segment(stream_id)}/output?{query}",
            timeout=self.timeout + wait_ms / 1000.0,
        )
        if response.status == 204:
            return None
        headers = {k.lower(): v for k, v in response.headers.items()}
        return OutputFrame(
            width=int(headers["x-frame-width"]),
            height=int(headers["x-frame-height"]),
            sequence=int(headers.get("x-frame-sequence", "0")),
            pixels=response.body,
        )


@dataclass(frozen=True)
class OutputFrame:
    width: int
    height: int
    sequence: int
    pixels: bytes = field(repr=False)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")
