"""A service's ``/metrics``, scraped and parsed as Prometheus does."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

Scrape = dict[str, list[Sample]]


async def scrape(url: str) -> Scrape:
    """``GET {url}/metrics``, parsed; samples by name."""
    async with httpx.AsyncClient(timeout=15) as http:
        reply = await http.get(f"{url}/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    samples: Scrape = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: Scrape, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(
        sample.value
        for sample in samples.get(name, [])
        if all(sample.labels.get(key) == value for key, value in labels.items())
    )
