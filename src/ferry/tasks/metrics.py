"""Prometheus metrics for the service, in a registry of the app's own (not the global
one), so two apps in one process — as in the tests — never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tasks_created = Counter(
            "ferry_tasks_created", "Bundle tasks created.", registry=self.registry
        )
        self.transitions = Counter(
            "ferry_task_transitions", "Task status changes.", ["to"], registry=self.registry
        )
        self.tasks_running = Gauge(
            "ferry_tasks_running", "Tasks resolving or downloading now.", registry=self.registry
        )
        self.bytes_fetched = Counter(
            "ferry_bytes_fetched", "Bytes downloaded into the store.", registry=self.registry
        )
        # what the origin sends of model files: the number peer-to-peer is there to keep low
        self.model_bytes_served = Counter(
            "ferry_model_bytes_served",
            "Bytes of model and dataset files sent (whole files and ranges, web seeds too).",
            ["kind"],
            registry=self.registry,
        )
        self.task_seconds = Histogram(
            "ferry_task_phase_seconds",
            "Time a task spent in a phase.",
            ["phase"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
