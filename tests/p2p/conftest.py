"""The peer-to-peer tests share the model tests' served Ferry (an admin and a read token)."""

from models.conftest import served

__all__ = ["served"]
