"""The run directory as the database: layout, atomic publish, journal, quarantine, lease.

Knows nothing about the game or torch; only the standard library.
"""

from __future__ import annotations

from ringrift_hpc.store.atomic import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    clean_temp_files,
    is_temp_name,
    temp_path_for,
)
from ringrift_hpc.store.errors import (
    CorruptArtifactError,
    JournalCorruptError,
    LeaseCorruptError,
    LeaseHeldError,
    LeaseLostError,
    NotPublishedError,
    PublishConflictError,
    StoreError,
    UnsafePathError,
)
from ringrift_hpc.store.journal import JournalReplay, JournalWriter, replay_journal
from ringrift_hpc.store.layout import RunLayout
from ringrift_hpc.store.lease import (
    Lease,
    LeaseRecord,
    acquire_lease,
    check_lease,
    latest_token,
    read_lease,
    release_lease,
    renew_lease,
)
from ringrift_hpc.store.lease_probe import (
    RaceRound,
    probe_lease_exclusion,
    race_for_lease,
)
from ringrift_hpc.store.publish import (
    Listing,
    Manifest,
    Published,
    Rejected,
    list_published,
    manifest_path,
    publish_bytes,
    publish_file,
    read_manifest,
    sha256_file,
)
from ringrift_hpc.store.quarantine import QuarantineRecord, list_quarantined, quarantine

__all__ = [
    "CorruptArtifactError",
    "JournalCorruptError",
    "JournalReplay",
    "JournalWriter",
    "Lease",
    "LeaseCorruptError",
    "LeaseHeldError",
    "LeaseLostError",
    "LeaseRecord",
    "Listing",
    "Manifest",
    "NotPublishedError",
    "PublishConflictError",
    "Published",
    "QuarantineRecord",
    "RaceRound",
    "Rejected",
    "RunLayout",
    "StoreError",
    "UnsafePathError",
    "acquire_lease",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_lease",
    "clean_temp_files",
    "is_temp_name",
    "latest_token",
    "list_published",
    "list_quarantined",
    "manifest_path",
    "probe_lease_exclusion",
    "publish_bytes",
    "publish_file",
    "quarantine",
    "race_for_lease",
    "read_lease",
    "read_manifest",
    "release_lease",
    "renew_lease",
    "replay_journal",
    "sha256_file",
    "temp_path_for",
]
