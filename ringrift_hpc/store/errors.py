"""Exceptions raised by the run-directory store; each message names the file and the fix."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every run-directory store error."""


class UnsafePathError(StoreError, ValueError):
    """A path component (variant, model id, task name, ...) could escape or confuse the layout."""


class PublishConflictError(StoreError):
    """Different content or metadata was published under a name that is already published."""


class CorruptArtifactError(StoreError):
    """A published artifact or its manifest fails verification."""


class NotPublishedError(StoreError, FileNotFoundError):
    """The artifact has no manifest, so it does not exist for readers."""


class JournalCorruptError(StoreError):
    """A journal line before the last one is not a JSON object."""


class LeaseHeldError(StoreError):
    """Another process holds (or is acquiring) the lease."""


class LeaseLostError(StoreError):
    """This process no longer holds the lease it acquired; it must stop writing."""


class LeaseCorruptError(StoreError):
    """The lease file cannot be parsed."""
