"""FeedRegistry: feeds by name, watchers told of existing and new feeds."""

from __future__ import annotations

import pytest

from nvr.feed import Feed
from nvr.registry import FeedRegistry


def test_watch_sees_existing_and_later_feeds():
    registry = FeedRegistry()
    registry.add(Feed("door"))
    seen: list[str] = []
    stop = registry.watch(lambda feed, source: seen.append(feed.name))
    registry.add(Feed("door/sub"))
    stop()
    registry.add(Feed("yard"))
    assert seen == ["door", "door/sub"]
    assert "yard" in registry and len(registry) == 3


def test_add_refuses_a_duplicate_name():
    registry = FeedRegistry()
    registry.add(Feed("door"))
    with pytest.raises(ValueError, match="door"):
        registry.add(Feed("door"))


async def test_remove_closes_the_feed():
    registry = FeedRegistry()
    feed = registry.add(Feed("door"))
    sub = feed.subscribe()
    registry.remove("door")
    assert registry.get("door") is None
    assert await sub.get() is None
