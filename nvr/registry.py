"""The FeedRegistry: every Feed by name, and who wants to hear of new ones.

Names: a camera's main stream is ``<camera>``, its sub stream
``<camera>/sub``; an RTMP publisher will be ``<app>/<stream>``. Consumers that
attach to every feed (the recorder manager today; live view, motion and RTMP
players later) call :meth:`watch` and are told of existing feeds at once and of
feeds that appear while nvr runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from nvr.feed import Feed
from nvr.source import Source

Watcher = Callable[[Feed, Source | None], None]


class FeedRegistry:
    def __init__(self) -> None:
        self._feeds: dict[str, Feed] = {}
        self._sources: dict[str, Source] = {}
        self._watchers: list[Watcher] = []

    def add(self, feed: Feed, source: Source | None = None) -> Feed:
        if feed.name in self._feeds:
            raise ValueError(f"a feed named {feed.name!r} exists already")
        self._feeds[feed.name] = feed
        if source is not None:
            self._sources[feed.name] = source
        for watcher in list(self._watchers):
            watcher(feed, source)
        return feed

    def remove(self, name: str) -> None:
        feed = self._feeds.pop(name, None)
        self._sources.pop(name, None)
        if feed is not None:
            feed.close()

    def get(self, name: str) -> Feed | None:
        return self._feeds.get(name)

    def source(self, name: str) -> Source | None:
        return self._sources.get(name)

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher(feed, source)`` for every feed now and every feed added later;
        returns a function that stops watching."""
        self._watchers.append(watcher)
        for name, feed in list(self._feeds.items()):
            watcher(feed, self._sources.get(name))
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    def __iter__(self) -> Iterator[Feed]:
        return iter(list(self._feeds.values()))

    def __len__(self) -> int:
        return len(self._feeds)

    def __contains__(self, name: object) -> bool:
        return name in self._feeds

    def close(self) -> None:
        for feed in self._feeds.values():
            feed.close()
