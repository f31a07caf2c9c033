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
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
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
_NO_DIR, _NO_RUN, _HELD = 97, 98, 3
_CHUNK = 1 << 20


class SshError(Exception):
    """A command on the far side failed, or ssh could not reach it."""


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
            "sh -c " + shlex.quote(body),
        ]  # fmt: skip

    def _exec(self, script: str, stdin: bytes | IO[bytes]) -> subprocess.CompletedProcess[bytes]:
        argv = self._argv(script)
        if isinstance(stdin, bytes):
            return subprocess.run(argv, input=stdin, capture_output=True, check=False)
        return subprocess.run(argv, stdin=stdin, capture_output=True, check=False)

    def _run(self, script: str, *, stdin: bytes | IO[bytes] = b"", what: str) -> bytes:
        """stdout of `script` run in the remote run directory; SshError on a non-zero exit."""
        done = self._exec(script, stdin)
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

    def list_files(self) -> list[str]:
        """Every regular, non-hidden file under RUN/variants, relative to RUN."""
        script = (
            f"test -f run.yaml || exit {_NO_RUN}\n"
            "test -d variants || exit 0\n"
            "find variants -type f ! -name '.*' -exec printf '%s\\0' {} +\n"
        )
        out = self._run(script, what="listing the run")
        return [name.decode("utf-8", "replace") for name in out.split(b"\0") if name]

    def read_files(self, paths: Sequence[str]) -> dict[str, bytes]:
        """The content of each of `paths` (relative to RUN) that exists.

        Each file is copied to a temp file first: `cp` opens it once, so a pointer file replaced
        meanwhile (by rename) is read whole, old or new.
        """
        if not paths:
            return {}
        script = (
            "t=$(mktemp) || exit 1\n"
            "trap 'rm -f \"$t\"' EXIT\n"
            "while IFS= read -r f; do\n"
            '  if cp "$f" "$t" 2>/dev/null; then\n'
            '    printf \'%s\\n%s\\n\' "$f" "$(wc -c < "$t" | tr -d \' \')"\n'
            '    cat "$t"\n'
            "  fi\n"
            "done\n"
        )
        out = self._run(script, stdin="".join(f"{path}\n" for path in paths).encode(), what="reading files")
        return _unframe(out, where=str(self))

    def artifact_index(self) -> list[ArtifactEntry]:
        """The run's published artifacts, as `artifacts.artifact_index` lists a local run's."""
        files = self.list_files()
        present = set(files)
        texts = self.read_files([name for name in files if is_manifest_relpath(name)])
        entries = []
        for path, raw in texts.items():
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            entry = entry_from_manifest(path, text, present.__contains__)
            if entry is not None:
                entries.append(entry)
        return sorted(entries, key=lambda entry: entry.path)

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

    def install(self, entry: ArtifactEntry, source: Path) -> bool:
        """Upload `source` as `entry`'s artifact and publish it there; False if it was already."""
        artifact = check_relpath(entry.artifact).as_posix()
        manifest = check_relpath(entry.path).as_posix()
        quoted = {
            "art": shlex.quote(artifact),
            "man": shlex.quote(manifest),
            "blobs": shlex.quote(BLOBS_DIR.as_posix()),
            "text": shlex.quote(entry.manifest),
        }
        script = (
            f"art={quoted['art']}; man={quoted['man']}; blobs={quoted['blobs']}\n"
            f'if [ -f "$man" ]; then cat "$man"; exit {_HELD}; fi\n'
            'mkdir -p "$blobs" "$(dirname "$art")" || exit 1\n'
            f'tmp="$blobs/.{entry.sha256}.$$.tmp"; mtmp="$(dirname "$man")/.$(basename "$man").$$.tmp"\n'
            'trap \'rm -f "$tmp" "$mtmp"\' EXIT\n'
            'cat > "$tmp" || exit 1\n'
            'size=$(wc -c < "$tmp" | tr -d " ")\n'
            f'[ "$size" = {entry.size} ] || {{ echo "received $size of {entry.size} bytes" >&2; exit 1; }}\n'
            'if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum < "$tmp")\n'
            'elif command -v shasum >/dev/null 2>&1; then sum=$(shasum -a 256 < "$tmp")\n'
            f"else sum={entry.sha256}; fi\n"
            f'[ "${{sum%% *}}" = {entry.sha256} ] || {{ echo "sha256 mismatch after transfer" >&2; exit 1; }}\n'
            # Durable before it is renamed, renamed (and the rename durable) before the manifest.
            'sync "$tmp" 2>/dev/null || sync\n'
            'mv -f "$tmp" "$art" || exit 1\n'
            'sync "$(dirname "$art")" 2>/dev/null || sync\n'
            f'printf %s {quoted["text"]} > "$mtmp" || exit 1\n'
            'sync "$mtmp" 2>/dev/null || sync\n'
            f'ln "$mtmp" "$man" 2>/dev/null || {{ cat "$man"; exit {_HELD}; }}\n'
            'sync "$(dirname "$man")" 2>/dev/null || sync\n'
        )
        with source.open("rb") as reader:
            done = self._exec(script, reader)
        if done.returncode == _HELD:
            held = done.stdout.decode("utf-8", "replace")
            check_same_artifact(held, entry, where=f"{self}/{manifest}")
            return False
        if done.returncode != 0:
            raise self._error(done.returncode, done.stderr, f"installing {entry.artifact}")
        return True

    def write_file(self, path: str, data: bytes) -> None:
        """Replace the file at `path` (relative to RUN) with `data`, atomically and durably."""
        script = (
            f'f={shlex.quote(path)}; d=$(dirname "$f")\n'
            'mkdir -p "$d" || exit 1\n'
            'tmp="$d/.$(basename "$f").$$.tmp"\n'
            "trap 'rm -f \"$tmp\"' EXIT\n"
            'cat > "$tmp" || exit 1\n'
            'sync "$tmp" 2>/dev/null || sync\n'
            'mv -f "$tmp" "$f" || exit 1\n'
            'sync "$d" 2>/dev/null || sync\n'
        )
        self._run(script, stdin=data, what=f"writing {path}")

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
