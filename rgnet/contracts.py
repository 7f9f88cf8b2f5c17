"""What one layer of rgnet must offer the next: ``typing.Protocol`` classes, checked with ``isinstance``
where they are used (runtime-checkable protocols check that the methods exist, not their signatures)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ChecksDataModule(Protocol):
    """A model that can tell, before any data is made, whether a data module's sizes fit it."""

    def check_datamodule(self, datamodule: Any) -> None:
        """Raise ``ValueError`` naming the mismatched size when ``datamodule`` does not fit the model."""
        ...


@runtime_checkable
class ReportsSummaryMetrics(Protocol):
    """A model or callback whose final results go into a run's ``summary.json``."""

    def summary_metrics(self) -> dict[str, Any]:
        """JSON-ready final metrics (numbers, lists, nested dicts)."""
        ...
