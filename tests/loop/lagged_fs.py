"""A shared filesystem as the controller's login node sees it: published files show up late.

`LaggedListing` stands in for the controller's directory listing (`store.list_published`): an
artifact a job published becomes visible only `lag` listings of its directory after the listing
that first found it on disk, so the scheduler's "job ended" is seen before the job's artifact, as
on NFS or Lustre. An artifact not yet visible is reported as pending (listed with the
unmanifested files), as the directory's changed mtime would be once the file shows up: the
controller's index lists that directory again.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

from ringrift_hpc.store import list_published
from ringrift_hpc.store.publish import Listing, Published


@dataclass
class LaggedListing:
    lag: int  # listings of a directory before a newly published artifact in it is visible
    listings: dict[Path, int] = field(default_factory=dict)  # directory -> listings so far
    first_seen: dict[Path, int] = field(default_factory=dict)  # artifact -> its first listing
    hidden_total: int = 0  # artifacts left out of a listing, over all listings (the lag did something)

    def __call__(self, directory: Path, *, verify: bool = True, skip: Container[str] = ()) -> Listing:
        listing = self.listings[directory] = self.listings.get(directory, 0) + 1
        real = list_published(directory, verify=verify, skip=skip)
        visible: list[Published] = []
        hidden: list[Path] = []
        for published in real.published:
            if listing - self.first_seen.setdefault(published.path, listing) < self.lag:
                hidden.append(published.path)
            else:
                visible.append(published)
        self.hidden_total += len(hidden)
        return Listing(tuple(visible), real.corrupt, (*real.unmanifested, *hidden), real.temp_files)
