"""Malformed and hostile requests for a running relay, and what its guard must answer.

Every route (with right and wrong methods) gets wrong types, sizes, bad JSON, bad SDP and bad
frames, with right and wrong `Host`, `Origin` and token. Cases are drawn from a seeded
generator, so a failing case can be replayed. Requests are written as raw bytes on a fresh
connection, so that what no HTTP library would send (no `Host`, odd methods) can be sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import struct
from dataclasses import dataclass, field

TOKEN = "corpus-token-0123456789abcdef"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO"]
STATE_CHANGING = {"POST", "PUT", "PATCH"}
ALLOWED_TYPES = {
    "application/json",
    "application/sdp",
    "application/trickle-ice-sdpfrag",
    "application/octet-stream",
}
MAX_JSON_BYTES = 1 << 20
FRAME_HEADER = struct.Struct("<4sBB2xIQQII")
# Larger bodies wait for `100 Continue`: a refusal (413) comes instead, and the body is never
# written into a connection the relay has closed (whose reset would discard the answer).
EXPECT_CONTINUE_ABOVE = 64 * 1024


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    path: str
    body: str  # json, frame, sdp, agent or none


ROUTES = [
    Route(("GET",), "/healthz", "none"),
    Route(("GET", "POST"), "/v1/streams", "json"),
    Route(("GET", "PATCH", "DELETE"), "/v1/streams/{id}", "json"),
    Route(("POST",), "/v1/streams/{id}/frames", "frame"),
    Route(("GET",), "/v1/streams/{id}/output", "none"),
    Route(("POST",), "/v1/streams/{id}/whip", "sdp"),
    Route(("POST",), "/v1/streams/{id}/whep", "sdp"),
    Route(("PATCH", "DELETE"), "/v1/streams/{id}/whip/{session}", "sdp"),
    Route(("PATCH", "DELETE"), "/v1/streams/{id}/whep/{session}", "sdp"),
    Route(("GET",), "/v1/events", "none"),
    Route(("GET",), "/v1/agent", "none"),
    Route(("GET",), "/v1/catalog", "none"),
    Route(("GET", "PUT"), "/v1/config", "json"),
    Route(("GET", "PUT"), "/v1/credentials", "json"),
    Route(("GET", "POST", "DELETE"), "/v1/credentials/sign-in", "json"),
    Route(("POST",), "/v1/credentials/sign-in/callback", "json"),
    Route(("GET",), "/v1/no-such-route", "none"),
    Route(("POST",), "/start", "json"),
    Route(("POST",), "/stop", "json"),
    Route(("GET",), "/status", "none"),
    Route(("POST",), "/frames", "json"),
    Route(("PATCH",), "/pipeline", "json"),
    Route(("GET", "POST"), "/config", "json"),
    Route(("GET",), "/whep/status", "none"),
    Route(("GET",), "/", "none"),
    Route(("GET",), "/local/v1/streams", "json"),
    Route(("GET", "PATCH", "DELETE"), "/local/v1/streams/{id}", "json"),
    Route(("GET",), "/local/v1/streams/{id}/status", "none"),
    Route(("POST", "PUT"), "/local/_faults", "json"),
    Route(("GET",), "/local/sign-in/local", "none"),
    Route(("POST",), "/local/v1/api-key", "json"),
    Route(("POST",), "/local/live/video-to-video/{key}/whip", "sdp"),
    Route(("POST",), "/local/live/video-to-video/{key}-out/whep", "sdp"),
]

# Paths no route expects: encodings, traversal, lengths.
ODD_PATHS = [
    "/v1/streams/%ff%fe",
    "/v1/streams/" + "a" * 9000,
    "/" + "x/" * 3000,
    "/..%2f..%2fetc%2fpasswd",
    "/pkg/../../Cargo.toml",
    "//healthz",
    "/v1/streams/{id}/../../healthz",
    "/v1/streams?%zz=1",
    "/v1/streams/%00",
    "*",
    "http://evil.example/v1/streams",
]

SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\n"
    "a=rtpmap:96 H264/90000\r\n"
)


def is_public(path: str) -> bool:
    return path == "/healthz" or path.startswith(("/local/live/", "/local/v1/", "/local/sign-in/"))


@dataclass
class Case:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    # What the guard must answer, when the guard decides; None leaves it to the route.
    guard: set[int] | None
    label: str = field(default="")

    def head(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        if len(self.body) > EXPECT_CONTINUE_ABOVE:
            lines.append("Expect: 100-continue")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Generator:
    """Seeded cases for a relay on ``port`` with one real stream ``stream_id``."""

    def __init__(self, port: int, seed: int = 13) -> None:
        self.port = port
        self.rng = random.Random(seed)
        self.stream_id = "str_unknown"
        self.stream_key = "stk_unknown"

    def _json_value(self, depth: int = 0) -> object:
        r = self.rng
        kinds = ["null", "bool", "int", "float", "str", "big"] + (
            ["list", "dict"] if depth < 3 else []
        )
        kind = r.choice(kinds)
        if kind == "null":
            return None
        if kind == "bool":
            return r.random() < 0.5
        if kind == "int":
            return r.choice([0, -1, 1, 13, 512, 2**31, 2**63 - 1, -(2**63), 10**30])
        if kind == "float":
            return r.choice([0.5, -1e308, 1e308, 3.14, -0.0])
        if kind == "str":
            return r.choice(
                ["", "a", "x" * 5000, "\u0000\u202e\u001b[31m", "str_x", "../../etc", "💥"]
            )
        if kind == "big":
            return "y" * r.choice([100, 70_000])
        if kind == "list":
            return [self._json_value(depth + 1) for _ in range(r.randint(0, 4))]
        keys = [
            "name",
            "pipeline_config",
            "params",
            "width",
            "height",
            "frame_rate",
            "prompt",
            "model_id",
        ]
        return {
            r.choice([*keys, "zzz"]): self._json_value(depth + 1) for _ in range(r.randint(0, 4))
        }

    def _json_body(self, path: str) -> bytes:
        r = self.rng
        pick = r.random()
        if pick < 0.35:
            valid = {
                "name": "corpus",
                "pipeline_config": {
                    "pipeline": "streamdiffusion",
                    "params": {"model_id": "stabilityai/sdxl-turbo"},
                },
                "width": r.choice([512, 13, 0, -1, 4096]),
            }
            body: object = {k: v for k, v in valid.items() if r.random() < 0.7}
        elif pick < 0.75:
            body = self._json_value()
        elif pick < 0.9:
            return r.choice(
                [b"{", b'{"a":', b"nul", b"\xff\xfe{}", b'{"a":1}{"b":2}', b"[" * 5000, b""]
            )
        elif pick < 0.99:
            return bytes(r.getrandbits(8) for _ in range(r.randint(1, 64)))
        else:
            return b'{"name":"' + b"a" * MAX_JSON_BYTES + b'"}'
        if path.startswith("/v1/credentials") and isinstance(body, dict):
            # A stored key would send later cases to Daydream; the suite stays on this machine.
            body.pop("api_key", None)
            body.pop("backend", None)
        return json.dumps(body).encode()

    def _frame(self) -> tuple[bytes, list[tuple[str, str]]]:
        r = self.rng
        width, height = r.choice([(8, 8), (0, 8), (8192, 8193), (4294967295, 4294967295), (3, 5)])
        fmt = r.choice(["rgb8", "rgba8", "i420", "bogus", ""])
        exact = width * height * 3 if width * height <= 64 * 64 else 16
        length = r.choice([exact, 0, 7, 200])
        headers = [
            ("X-Frame-Width", str(width)),
            ("X-Frame-Height", str(height)),
            ("X-Frame-Format", fmt),
        ]
        if r.random() < 0.2:
            headers = [
                (k, r.choice(["-1", "abc", "1e9", "99999999999999999999"])) for k, _ in headers
            ]
        return bytes(length), headers

    def _sdp(self) -> bytes:
        r = self.rng
        return r.choice(
            [
                SDP.encode(),
                SDP.replace("H264", "VP8").encode(),
                SDP.replace("sendonly", "recvonly").encode(),
                b"v=0\r\n",
                b"garbage",
                SDP.encode()[: r.randint(0, len(SDP))],
                b"v=0\r\n" + b"a=x\r\n" * 20_000,
                b"\xff" * 32,
            ]
        )

    def case(self) -> Case:
        r = self.rng
        if r.random() < 0.05:
            route = Route(("GET",), r.choice(ODD_PATHS), "none")
        else:
            route = r.choice(ROUTES)
        known = route.methods
        method = r.choice(known) if r.random() < 0.65 else r.choice(METHODS)
        ids = [self.stream_id, self.stream_id, "str_nope", "", "%2e%2e", "a" * 300]
        path = (
            route.path.replace("{id}", r.choice(ids))
            .replace("{session}", r.choice(["s1", "0" * 32]))
            .replace("{key}", r.choice([self.stream_key, "stk_nope"]))
        )
        if route.path == "/v1/streams/{id}/output":
            path += r.choice(
                ["", "?after=0&wait_ms=50", "?wait_ms=abc", "?format=bogus", "?after=-1"]
            )
        headers: list[tuple[str, str]] = []
        good = f"127.0.0.1:{self.port}"
        host = r.choices(
            [good, f"localhost:{self.port}", "evil.example", "127.0.0.1.evil.example", None],
            weights=[70, 10, 8, 6, 6],
        )[0]
        if host is not None:
            headers.append(("Host", host))
        origin = r.choices(
            [
                None,
                f"http://{good}",
                f"http://127.0.0.1:{self.port + 1}",
                "http://evil.example",
                "null",
            ],
            weights=[70, 10, 8, 8, 4],
        )[0]
        if origin is not None:
            headers.append(("Origin", origin))
        credential = r.choices(
            [
                ("Authorization", f"Bearer {TOKEN}"),
                None,
                ("Authorization", "Bearer wrong"),
                ("Cookie", f"rtc_token={TOKEN}"),
                ("Cookie", "rtc_token=wrong"),
                ("Authorization", "Basic Zm9vOmJhcg=="),
                ("Authorization", "Bearer " + "t" * 9000),
            ],
            weights=[70, 8, 6, 6, 4, 3, 3],
        )[0]
        if credential is not None:
            headers.append(credential)
        body, content_type = b"", None
        if method in STATE_CHANGING or (method == "DELETE" and r.random() < 0.3):
            if route.body == "frame":
                body, frame_headers = self._frame()
                headers += frame_headers
                content_type = "application/octet-stream"
            elif route.body == "sdp":
                body, content_type = self._sdp(), "application/sdp"
            else:
                body, content_type = self._json_body(route.path), "application/json"
            if r.random() < 0.2:
                content_type = r.choice(
                    [
                        "text/plain",
                        "application/x-www-form-urlencoded",
                        "",
                        None,
                        "APPLICATION/JSON; x=1",
                    ]
                )
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        if route.path == "/v1/agent" and r.random() < 0.5:
            headers += [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Version", "13"),
            ]
            if r.random() < 0.7:
                headers.append(("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))
        case = Case(method, path, headers, body, None, route.path)
        case.guard = self._guard(case, host, origin, credential, content_type, route in ROUTES)
        return case

    def _guard(
        self,
        case: Case,
        host: str | None,
        origin: str | None,
        credential: tuple[str, str] | None,
        content_type: str | None,
        known_route: bool,
    ) -> set[int] | None:
        """The auth middleware's answer (docs/ARCHITECTURE.md, "Threat model")."""
        if not known_route:
            return None
        if host is None:
            return {400, 403}
        if host.split(":")[0] not in ("127.0.0.1", "localhost"):
            return {403}
        if is_public(case.path.split("?")[0]):
            return None
        if origin is not None and origin != f"http://127.0.0.1:{self.port}":
            return {403}
        if credential is None or TOKEN not in credential[1] or credential[1].endswith("t" * 9000):
            return {401}
        if credential[0] == "Authorization" and not credential[1].startswith("Bearer "):
            return {401}
        essence = (content_type or "").split(";")[0].strip().lower()
        if case.method in STATE_CHANGING and essence not in ALLOWED_TYPES:
            return {415}
        return None


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_head(reader: asyncio.StreamReader, timeout: float) -> tuple[int, dict[str, str]]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


async def send(port: int, case: Case, timeout: float) -> Reply | None:
    """Sends one case; the reply, or None if none came within ``timeout`` (a hang).

    Streams (SSE, WebSocket upgrades) count as answered once their head arrived.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = case.head()
        waits = len(case.body) > EXPECT_CONTINUE_ABOVE
        writer.write(head if waits else head + case.body)
        await writer.drain()
        try:
            status, headers = await read_head(reader, timeout)
            if waits and status == 100:
                writer.write(case.body)
                await writer.drain()
                status, headers = await read_head(reader, timeout)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise ConnectionError(f"connection closed without a reply: {error}") from error
        except TimeoutError:
            return None
        body = b""
        streaming = status == 101 or "text/event-stream" in headers.get("content-type", "")
        if not streaming and case.method != "HEAD":
            if "content-length" in headers:
                length = int(headers["content-length"])
                body = await asyncio.wait_for(reader.readexactly(length), timeout)
            else:
                body = await asyncio.wait_for(reader.read(), timeout)
        return Reply(status, headers, body)
    finally:
        writer.close()


def agent_messages(rng: random.Random, stream_index: int) -> list[str | bytes]:
    """Text and binary messages for an agent socket after its hello."""
    texts: list[str | bytes] = [
        "",
        "{",
        "null",
        "[]",
        '{"type": 1}',
        '{"type": "hello", "protocol": 1}',
        '{"type": "state", "stream_id": 5, "role": "publisher", "state": "live"}',
        '{"type": "state", "stream_id": "x", "role": "boss", "state": "live"}',
        '{"type": "stats", "stream_id": "x", "role": "player", "stats": {"fps": "fast"}}',
        '{"type": "release", "stream_id": "' + "s" * 100_000 + '"}',
        '{"type": "release"}',
        '{"type": "stats", "stream_id": "x", "role": "player", "stats": '
        + "[" * 2000
        + "]" * 2000
        + "}",
        "\u0000\u001b[2J",
    ]
    out: list[str | bytes] = list(texts)
    for _ in range(60):
        width, height = rng.choice([(2, 2), (0, 0), (4294967295, 4294967295), (8192, 8192), (3, 3)])
        fmt = rng.choice([0, 1, 2, 9])
        magic = rng.choice([b"RTCF", b"RTCF", b"XXXX"])
        version = rng.choice([1, 1, 2])
        header = FRAME_HEADER.pack(
            magic, version, fmt, rng.choice([stream_index, 999]), 1, 0, width, height
        )
        payload = bytes(rng.choice([0, 1, 12, 16, 27]))
        out.append((header + payload)[: rng.choice([36 + len(payload), 10, 0])] or b"\x00")
    rng.shuffle(out)
    return out
