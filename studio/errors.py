"""The studio's exception tree; every message says what went wrong, why, and how to fix it.

    StudioError
    ├── DataError            a file, table or dataset that cannot be used
    │   └── DatasetNotFound
    ├── SpecError            a TrainSpec or request that fails validation
    ├── JobError
    │   ├── JobNotFound
    │   └── LeaseLost        a worker wrote after its lease moved on (the write is rejected)
    ├── TrackingError        MLflow runs and models
    │   ├── ModelNotFound
    │   └── PromotionRefused a version failed its promotion gates (the report says which and why)
    ├── ExportError          bento build, serving
    │   └── BentoNotFound
    └── MissingDependency

The UI turns these into `st.error`, the CLI into one line on stderr and exit code 2 (bad input) or 1.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base of every error the studio raises on purpose."""

    #: CLI exit code: 2 means the user gave bad input, 1 means something failed.
    exit_code = 1


class DataError(StudioError):
    exit_code = 2


class DatasetNotFound(DataError):
    pass


class SpecError(StudioError):
    exit_code = 2

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class JobError(StudioError):
    pass


class JobNotFound(JobError):
    exit_code = 2


class LeaseLost(JobError):
    pass


class TrackingError(StudioError):
    pass


class ModelNotFound(TrackingError):
    exit_code = 2


class PromotionRefused(TrackingError):
    exit_code = 2

    def __init__(self, message: str, *, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class ExportError(StudioError):
    pass


class BentoNotFound(ExportError):
    exit_code = 2


class MissingDependency(StudioError):
    pass
