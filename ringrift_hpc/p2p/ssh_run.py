"""A run directory on another machine, reached through the system's `ssh` as `[user@]host:/path`.

Only POSIX tools run on that machine (sh, find, cp, cat, wc, mv, ln, sync): it needs no
ringrift-hpc. One OpenSSH master connection (ControlMaster) carries every command of a sync.
Fetched bytes are verified by sha256 on this side. An upload is checked on the far side by size,
and by sha256 where `sha256sum` or `shasum` exists (ssh's integrity check covers the transfer),
then installed as the store publishes: artifact renamed into place and made durable, manifest
last, linked so an existing one is never replaced.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ringrift_hpc.p2p.artifacts import (
    BLOBS_DIR,
    ArtifactEntry,
    check_relpath,
    check_same_artifact,
    entry_from_manifest,
    is_manifest_relpath,
)

# scp's syntax: [user@]host:path, the host without '/' (so ./a:b stays a local path).
_TARGET = re.compile(r"(?P<host>(?:[^@/:\s]+@)?[^@/:\s]+):(?P<path>\S.*)")
_NO_DIR, _NO_RUN = 97, 98
# Every script that gets a tar on its standard input starts by unpacking it into a hidden folder
# under RUN/p2p/blobs (same filesystem as the run, so renames out of it are atomic).
_UNPACK = """\
inc="$blobs/.incoming.$$.tmp"
trap 'rm -rf "$inc"' EXIT HUP INT TERM
mkdir -p "$inc" && tar -xf - -C "$inc" || exit 1
held() { printf '%s\\n%s\\n' "$1" "$(wc -c < "$2" | tr -d ' ')"; cat "$2"; }
"""
# `index` lines: number sha256 size artifact manifest; members `<number>` (the blob) and
# `<number>.manifest`. Each artifact is published as the store does; one whose manifest is
# already there is left alone and its manifest printed back (framed), for the caller to compare.
_INSTALL_SCRIPT = """\
while IFS=' ' read -r n sha size art man; do
  if [ -f "$man" ]; then held "$n" "$man"; continue; fi
  got=$(wc -c < "$inc/$n" | tr -d ' ')
  [ "$got" = "$size" ] || { echo "$art: received $got of $size bytes" >&2; exit 1; }
  if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum < "$inc/$n")
  elif command -v shasum >/dev/null 2>&1; then sum=$(shasum -a 256 < "$inc/$n")
  else sum=$sha; fi
  [ "${sum%% *}" = "$sha" ] || { echo "$art: sha256 does not match its manifest (source or transfer damaged)" >&2; exit 1; }
  mkdir -p "$(dirname "$art")" || exit 1
  sync "$inc/$n" 2>/dev/null || sync
  mv -f "$inc/$n" "$art" || exit 1
  sync "$(dirname "$art")" 2>/dev/null || sync
  mtmp="$(dirname "$man")/.$(basename "$man").$$.tmp"
  mv -f "$inc/$n.manifest" "$mtmp" && { sync "$mtmp" 2>/dev/null || sync; } || exit 1
  if ln "$mtmp" "$man" 2>/dev/null; then rm -f "$mtmp"; else rm -f "$mtmp"; held "$n" "$man"; fi
  sync "$(dirname "$man")" 2>/dev/null || sync
done < "$inc/index"
"""
# `index` lines: number path; member `<number>` replaces the file at path.
_WRITE_SCRIPT = """\
while IFS=' ' read -r n path; do
  d=$(dirname "$path"); mkdir -p "$d" || exit 1
  tmp="$d/.$(basename "$path").$$.tmp"
  mv -f "$inc/$n" "$tmp" && { sync "$tmp" 2>/dev/null || sync; } && mv -f "$tmp" "$path" || exit 1
  sync "$d" 2>/dev/null || sync
done < "$inc/index"
"""
# Prints, framed as `path\\nsize\\n<bytes>`: the list of files under variants (as ":files"), the
# lease, and every .json, promotions.jsonl and leaderboard file. Each is copied to a temp file
# first: `cp` opens it once, so a pointer file replaced meanwhile (by rename) is read whole.
_SNAPSHOT_SCRIPT = """\
test -f run.yaml || exit {no_run}
t=$(mktemp) && l=$(mktemp) || exit 1
trap 'rm -f "$t" "$l"' EXIT
emit() {{ if cp "$2" "$t" 2>/dev/null; then printf '%s\\n%s\\n' "$1" "$(wc -c < "$t" | tr -d ' ')"; cat "$t"; fi; }}
if [ -d variants ]; then find variants -type f ! -name '.*' > "$l" || exit 1; fi
emit :files "$l"
emit controller.lease controller.lease
while IFS= read -r f; do
  case "$f" in *.json|*/promotions.jsonl|*/leaderboard.md|*/leaderboard.csv) emit "$f" "$f" ;; esac
done < "$l"
"""
FILES_KEY = ":files"
# Characters that a login shell or sh's double quotes would act on, as `printf %b` escapes: `\0`
# and always three octal digits, so a digit after the escape stays a digit.
_ESCAPES = {char: f"\\0{ord(char):03o}" for char in "\\'\"$`!"} | {"\n": "\\n"}


class SshError(Exception):
    """A command on the far side failed, or ssh could not reach it."""


@dataclass(frozen=True)
class Snapshot:
    """A run directory's files as read in one pass: names, and the content of the small ones."""

    files: frozenset[str]  # every regular, non-hidden file under RUN/variants, relative to RUN
    contents: Mapping[str, bytes]  # manifests, pointer files and controller.lease, by path

    def artifact_index(self) -> list[ArtifactEntry]:
        """The published artifacts, as `artifacts.artifact_index` lists a local run's."""
        entries = []
        for path, raw in self.contents.items():
            if not is_manifest_relpath(path):
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            entry = entry_from_manifest(path, text, self.files.__contains__)
            if entry is not None:
                entries.append(entry)
        return sorted(entries, key=lambda entry: entry.path)


def _snapshot_from(output: bytes, where: str) -> Snapshot:
    contents = _unframe(output, where=where)
    listing = contents.pop(FILES_KEY, b"").decode("utf-8", "replace")
    return Snapshot(files=frozenset(listing.splitlines()), contents=contents)


def remote_command(script: str) -> str:
    """A one-line command that runs `script` with `sh`, whatever the login shell there is.

    ssh hands its command to the remote user's login shell, which may be csh or fish: those
    cannot take a quoted newline (csh) or read `$(...)` and `!` as sh does. So the script
    travels as octal and newline escapes that `printf %b` decodes inside `sh`, in single quotes
    that every one of those shells passes on untouched.
    """
    escaped = "".join(_ESCAPES.get(char, char) for char in script)
    return f'sh -c \'eval "$(printf %b "{escaped}")"\''


def parse_ssh_target(text: str) -> tuple[str, str] | None:
    """(`[user@]host`, path) of `user@host:/path`; None for a local path or a URL."""
    if "://" in text:
        return None
    match = _TARGET.fullmatch(text)
    return (match["host"], match["path"]) if match else None


class SshRun:
    """A remote run directory; `close()` ends the master connection."""

    def __init__(self, host: str, root: str, *, ssh_command: Sequence[str] = ("ssh",)) -> None:
        self.host = host
        self.root = root
        self.ssh_command = tuple(ssh_command)
        # A short private directory: the control socket's path must fit a unix socket name.
        self._control = Path(tempfile.mkdtemp(prefix="rr-ssh-"))

    def __str__(self) -> str:
        return f"{self.host}:{self.root}"

    def _argv(self, script: str) -> list[str]:
        body = f"cd {shlex.quote(self.root)} 2>/dev/null || exit {_NO_DIR}\n{script}"
        return [
            *self.ssh_command,
            "-o", "BatchMode=yes",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={self._control}/master",
            "-o", "ControlPersist=300",
            self.host,
            remote_command(body),
        ]  # fmt: skip

    def _run(self, script: str, *, what: str) -> bytes:
        """stdout of `script` run in the remote run directory; SshError on a non-zero exit."""
        done = subprocess.run(self._argv(script), stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if done.returncode != 0:
            raise self._error(done.returncode, done.stderr, what)
        return done.stdout

    def _error(self, code: int, stderr: bytes, what: str) -> SshError:
        if code == _NO_DIR:
            return SshError(f"{self}: {self.root} is not a directory there; give the run directory's path")
        if code == _NO_RUN:
            return SshError(
                f"{self} is not a run directory (no run.yaml); create it there with "
                "`ringrift-hpc init RUN --config CONFIG.yaml` using the same config as the other run"
            )
        text = stderr.decode("utf-8", "replace").strip() or "no message"
        if code == 255:
            return SshError(
                f"ssh to {self.host} failed ({text}); check that `ssh {self.host}` works without a password"
            )
        return SshError(f"{self}: {what} failed with exit code {code}: {text}")

    def snapshot(self) -> Snapshot:
        """The run's files, with every manifest, pointer file and the lease read, in one command."""
        return _snapshot_from(
            self._run(_SNAPSHOT_SCRIPT.format(no_run=_NO_RUN), what="reading the run"), str(self)
        )

    def artifact_index(self) -> list[ArtifactEntry]:
        """The run's published artifacts, as `artifacts.artifact_index` lists a local run's."""
        return self.snapshot().artifact_index()

    @contextlib.contextmanager
    def open_artifact(self, entry: ArtifactEntry) -> Iterator[IO[bytes]]:
        """A stream of the artifact's bytes; SshError once read if the far side failed."""
        script = f"exec cat -- {shlex.quote(check_relpath(entry.artifact).as_posix())}"
        with subprocess.Popen(self._argv(script), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            try:
                yield proc.stdout
            finally:
                proc.stdout.close()
                stderr = proc.stderr.read()
                code = proc.wait()
            if code != 0:
                raise self._error(code, stderr, f"reading {entry.artifact}")

    @contextlib.contextmanager
    def open_tar(self, paths: Sequence[str]) -> Iterator[IO[bytes]]:
        """A tar stream of the files at `paths` (relative to RUN); SshError once read if tar failed."""
        listing = "".join(f"{check_relpath(path).as_posix()}\n" for path in paths).encode("utf-8")
        with subprocess.Popen(
            self._argv("exec tar -cf - -T -"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            # Fed from a thread: tar writes while it reads the list, and both pipes are bounded.
            feeder = threading.Thread(target=_feed, args=(proc.stdin, listing), daemon=True)
            feeder.start()
            try:
                yield proc.stdout
            finally:
                proc.stdout.close()
                feeder.join()
                stderr = proc.stderr.read()
                code = proc.wait()
            if code != 0:
                raise self._error(code, stderr, "reading the artifacts")

    def install_many(self, uploads: Sequence[tuple[ArtifactEntry, Path]]) -> list[bool]:
        """Upload each (entry, local file) and publish it there, in one command; for each, whether
        it was installed (False: it was already there). Stops at the first one that fails."""
        index = "".join(
            f"{number} {entry.sha256} {entry.size} {check_relpath(entry.artifact).as_posix()} "
            f"{check_relpath(entry.path).as_posix()}\n"
            for number, (entry, _) in enumerate(uploads)
        )
        members: list[tuple[str, bytes | Path]] = [("index", index.encode("utf-8"))]
        for number, (entry, source) in enumerate(uploads):
            members += [(f"{number}.manifest", entry.manifest.encode("utf-8")), (str(number), source)]
        done = self._send_bundle(_INSTALL_SCRIPT, members)
        if done.returncode != 0:
            raise self._error(done.returncode, done.stderr, "installing the artifacts")
        held = _unframe(done.stdout, where=str(self))
        results = []
        for number, (entry, _) in enumerate(uploads):
            existing = held.get(str(number))
            if existing is not None:
                check_same_artifact(existing.decode("utf-8", "replace"), entry, where=f"{self}/{entry.path}")
            results.append(existing is None)
        return results

    def write_files(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Replace each file (path relative to RUN, content) atomically and durably, in order."""
        index = "".join(
            f"{number} {check_relpath(path).as_posix()}\n" for number, (path, _) in enumerate(files)
        )
        members: list[tuple[str, bytes | Path]] = [("index", index.encode("utf-8"))]
        members += [(str(number), data) for number, (_, data) in enumerate(files)]
        done = self._send_bundle(_WRITE_SCRIPT, members)
        if done.returncode != 0:
            raise self._error(done.returncode, done.stderr, "writing the pointer files")

    def _send_bundle(
        self, script: str, members: Sequence[tuple[str, bytes | Path]]
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `script` (in RUN, with `$blobs` set) with a tar of `members` on its standard input."""
        failures: list[BaseException] = []
        argv = self._argv(f"blobs={shlex.quote(BLOBS_DIR.as_posix())}\n{_UNPACK}{script}")
        with subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            # Streamed from a thread while this one reads the answers: no local copy of the bundle.
            writer = threading.Thread(target=_write_bundle, args=(proc.stdin, members, failures), daemon=True)
            writer.start()
            stdout = proc.stdout.read()
            writer.join()
            done = subprocess.CompletedProcess(proc.args, proc.wait(), stdout, proc.stderr.read())
        if failures:
            raise failures[0]
        return done

    def close(self) -> None:
        """End the master connection (if one was opened) and remove its socket directory."""
        socket = self._control / "master"
        if socket.exists():
            subprocess.run(
                [*self.ssh_command, "-o", f"ControlPath={socket}", "-O", "exit", self.host],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self._control, ignore_errors=True)


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        pipe.write(data)
    with contextlib.suppress(BrokenPipeError):
        pipe.close()


def _write_bundle(
    pipe: IO[bytes], members: Sequence[tuple[str, bytes | Path]], failures: list[BaseException]
) -> None:
    """Write the tar the far side unpacks; a failure here (a missing local file) goes to `failures`."""
    try:
        with tarfile.open(fileobj=pipe, mode="w|") as tar:
            for name, content in members:
                if isinstance(content, Path):
                    tar.add(content, arcname=name, recursive=False)
                else:
                    _add_bytes(tar, name, content)
    except BrokenPipeError:
        pass  # the far side stopped early; its exit status and message say why
    except BaseException as error:  # noqa: BLE001 - handed to the calling thread, which raises it
        failures.append(error)
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _unframe(data: bytes, *, where: str) -> dict[str, bytes]:
    """Split `path\\nsize\\n<size bytes>` records (what `read_files` prints) into a mapping."""
    files: dict[str, bytes] = {}
    position = 0
    while position < len(data):
        name_end = data.find(b"\n", position)
        size_end = data.find(b"\n", name_end + 1)
        try:
            size = int(data[name_end + 1 : size_end])
        except ValueError:
            size = -1
        if name_end < 0 or size_end < 0 or size < 0 or size_end + 1 + size > len(data):
            raise SshError(f"{where}: the file listing came back garbled at byte {position}")
        files[data[position:name_end].decode("utf-8", "replace")] = data[size_end + 1 : size_end + 1 + size]
        position = size_end + 1 + size
    return files
