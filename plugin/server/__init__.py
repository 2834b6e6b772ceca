"""The ragdrop HTTP API (FastAPI; install the ``server`` extra)."""

from ragdrop.server.app import check_workers, create_app, create_app_from_env
from ragdrop.server.jobs import IngestWorker, JobJournal

__all__ = ["IngestWorker", "JobJournal", "check_workers", "create_app", "create_app_from_env"]
