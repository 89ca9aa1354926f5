"""Reading Prometheus exposition in tests: scraped over HTTP or taken from a registry, parsed
with prometheus_client's own parser into samples looked up by name and labels."""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Exposition:
    """The samples of one scrape: ``value(name, **labels)``, ``None`` when absent."""

    text: str
    samples: dict[tuple[str, Labels], float]

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def series(self, name: str) -> dict[Labels, float]:
        return {labels: value for (found, labels), value in self.samples.items() if found == name}

    def has_family(self, name: str) -> bool:
        return f"# TYPE {name} " in self.text


def parse(text: str) -> Exposition:
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return Exposition(text, samples)


def scrape(url: str) -> Exposition:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        return parse(response.read().decode())


async def scrape_async(url: str) -> Exposition:
    return await asyncio.to_thread(scrape, url)


def read_registry(registry: CollectorRegistry) -> Exposition:
    return parse(generate_latest(registry).decode())
