"""aiortc, an independent WebRTC stack, publishes over WHIP and views over WHEP through
our server from inside a network namespace; decoded frames are checked for content."""

from __future__ import annotations

import itertools
import time
from typing import Any

from conftest import MediaServer, Namespace
from peers import AiortcPeer


def wait_status(
    server: MediaServer, key: str, check: Any, timeout: float = 20.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        status = server.status(key)
        if check(status):
            return status
        assert time.monotonic() < deadline, f"stream status stuck at {status}"
        time.sleep(0.05)


def whip(key: str) -> str:
    return f"/local/live/video-to-video/{key}/whip"


def test_aiortc_publishes_and_views_through_the_sfu(
    netns: Namespace, media_server: MediaServer
) -> None:
    key = "stk_aiortc"
    media_server.open_stream(key)
    publisher = AiortcPeer(netns, media_server, "publish", whip(key))
    viewer = None
    try:
        playback = publisher.headers["livepeer-playback-url"]
        assert playback == f"{media_server.url}/local/live/video-to-video/{key}-out/whep"
        publisher.next(lambda m: m.get("state") == "connected")
        wait_status(media_server, key, lambda s: s["media_flowing"])

        viewer = AiortcPeer(netns, media_server, "view", playback.removeprefix(media_server.url))
        viewer.next(lambda m: m.get("state") == "connected")
        frames = [viewer.next(lambda m: "frame" in m) for _ in range(40)]
        assert all(f["size"] == [320, 240] for f in frames)
        bad_colours = [f for f in frames if not f["colours_ok"]]
        assert not bad_colours, f"colour patches lost: {bad_colours[:3]}"
        numbers = [f["frame"] for f in frames]
        # The viewer joined mid-stream, so numbering starts late but then counts up.
        assert numbers[0] > 0
        steps = [b - a for a, b in itertools.pairwise(numbers)]
        assert sum(1 for s in steps if s == 1) >= 30, f"frame numbers not consecutive: {numbers}"
        assert all(s > 0 for s in steps), f"frames out of order: {numbers}"

        status = wait_status(
            media_server, key, lambda s: s["viewers"] == 1 and s["packets_out"] > 0
        )
        assert status["publisher_connected"]

        # The publisher leaves: the viewer's connection ends and the stream goes offline.
        code, _, _ = media_server.request("DELETE", publisher.location)
        assert code == 200
        viewer.next(lambda m: m.get("state") in ("closed", "failed") or m.get("track") == "ended")
        wait_status(media_server, key, lambda s: not s["publisher_connected"] and s["viewers"] == 0)
        code, _, _ = media_server.request("DELETE", viewer.location)
        assert code == 404
    finally:
        publisher.stop()
        if viewer:
            viewer.stop()
