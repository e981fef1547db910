"""Where bundle tasks are kept: SQLAlchemy models, Alembic migrations, one repository."""

from ferry.db.engine import check_drift, make_engine, make_sessionmaker, upgrade
from ferry.db.repository import (
    InvalidTransition,
    TaskNotFound,
    TaskRecord,
    TaskRepository,
    TransitionRecord,
    new_task_id,
)

__all__ = [
    "InvalidTransition",
    "TaskNotFound",
    "TaskRecord",
    "TaskRepository",
    "TransitionRecord",
    "check_drift",
    "make_engine",
    "make_sessionmaker",
    "new_task_id",
    "upgrade",
]
