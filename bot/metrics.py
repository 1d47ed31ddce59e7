"""Prometheus metrics for ``/metrics``, in a registry owned by the app (no globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from handlers.core.metrics import KNOWN, OBSERVED

PREFIX = "cohortbot_"


class PrometheusMetrics:
    """Implements :class:`handlers.core.metrics.Metrics`; label names are fixed per metric
    the first time it is used."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._gauges: dict[str, Gauge] = {}
        self._gauge_sources: dict[str, Callable[[], Awaitable[dict[tuple[str, ...], float]]]] = {}
        self._gauge_labels: dict[str, tuple[str, ...]] = {}

    def incr(self, name: str, amount: float = 1, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = Counter(PREFIX + name, KNOWN.get(name, name), sorted(labels),
                              registry=self.registry)
            self._counters[name] = counter
        (counter.labels(**labels) if labels else counter).inc(amount)

    def observe(self, name: str, value: float, **labels: str) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = Histogram(PREFIX + name, OBSERVED.get(name, name), sorted(labels),
                                  registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                           5, 10, 30, 60))
            self._histograms[name] = histogram
        (histogram.labels(**labels) if labels else histogram).observe(value)

    def gauge(self, name: str, doc: str, labels: tuple[str, ...],
              source: Callable[[], Awaitable[dict[tuple[str, ...], float]]]) -> None:
        """A value read from the database when ``/metrics`` is scraped (e.g. pending outbox)."""
        self._gauges[name] = Gauge(PREFIX + name, doc, list(labels), registry=self.registry)
        self._gauge_sources[name] = source
        self._gauge_labels[name] = labels

    async def render(self) -> bytes:
        for name, source in self._gauge_sources.items():
            gauge = self._gauges[name]
            gauge.clear()
            for key, value in (await source()).items():
                (gauge.labels(*key) if key else gauge).set(value)
        return generate_latest(self.registry)

    def routes(self) -> list[web.RouteDef]:
        async def metrics(request: web.Request) -> web.Response:
            body = await self.render()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        return [web.get("/metrics", metrics)]
