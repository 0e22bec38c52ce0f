"""The landing folder's disk full while ``download_events`` writes a window.

The landing folder is a small tmpfs of the test's (``mount -t tmpfs -o size=1m``, root only), filled with a
ballast file until less room is left than the window needs; without the right to mount, the task process gets a
file size limit (``RLIMIT_FSIZE``) below the window's size instead. The download fails saying the disk is full
and where, no version is published (the window's link is absent, or still points at the version before), and
once space is freed the retry gives the fault-free landing files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fault_helpers import FAULT_WINDOW, Reference, Task, fingerprint_of, import_in_process, reconciles, task_env

from sms_response.landing import VERSIONS_DIR, read_manifest, verified_parts
from sms_simulator import SimulatorServer

pytestmark = [pytest.mark.faults, pytest.mark.once, pytest.mark.integration]
PAGE = 4096


@dataclass
class SmallDisk:
    root: Path
    tmpfs: bool

    def fill(self, leave: int) -> None:
        """Leave about ``leave`` bytes free (a tmpfs counts whole pages)."""
        if not self.tmpfs:
            return
        ballast = self.root / "ballast"
        ballast.unlink(missing_ok=True)
        free = shutil.disk_usage(self.root).free
        with ballast.open("wb") as f:
            f.write(b"\0" * max(0, free - leave))
        assert shutil.disk_usage(self.root).free <= leave + PAGE

    def free(self) -> None:
        (self.root / "ballast").unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    root = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    root.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], capture_output=True).returncode == 0
    try:
        yield SmallDisk(root, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", str(root)], check=True)


@pytest.mark.scenario("faults", "disk full while writing landing files: nothing published, retry after space is "
                                "freed gives the fault-free landing")
def test_a_full_disk_fails_the_download_saying_so_and_publishes_nothing(
    small_disk: SmallDisk, fault_sim: SimulatorServer, fault_token: str, reference: Reference, pg_url: str,
    fresh_schema: str, tmp_path: Path,
) -> None:
    landing = small_disk.root / "landing"
    env = task_env(pg_url, fresh_schema, landing, fault_sim, fault_token)
    room = reference.landing_bytes // 2
    if not small_disk.tmpfs:
        env["FAULTS_RLIMIT_FSIZE"] = str(room)
    args = {"window": FAULT_WINDOW.to_dict()}
    logs = tmp_path / "logs"
    link = landing / FAULT_WINDOW.id
    versions = landing / VERSIONS_DIR
    says = "the disk is full" if small_disk.tmpfs else "a file size limit was reached"

    # A first download that cannot fit: it fails, saying so and where, and publishes nothing.
    landing.mkdir()
    small_disk.fill(leave=room)
    failed = Task("download", args, env, logs).wait()
    assert failed.returncode == 1
    assert failed.error.startswith("FAILED LandingDiskFull: "), failed.stderr[-2000:]
    assert says in failed.error and str(landing) in failed.error and FAULT_WINDOW.id in failed.error, failed.error
    assert not link.exists() and not link.is_symlink() and list(versions.iterdir()) == []

    # Space freed: the retry gives the fault-free landing files.
    small_disk.free()
    env.pop("FAULTS_RLIMIT_FSIZE", None)
    first = Task("download", args, env, logs).wait().result()
    assert first["sha256"] == reference.sha256
    published = link.resolve()

    # A rerun of the window on a full disk fails too, and the window still reads as the version before it.
    small_disk.fill(leave=room)
    if not small_disk.tmpfs:
        env["FAULTS_RLIMIT_FSIZE"] = str(room)
    rerun = Task("download", args, env, logs).wait()
    assert rerun.returncode == 1 and says in rerun.error, rerun.stderr[-2000:]
    assert link.resolve() == published and list(versions.iterdir()) == [published]
    directory, manifest = read_manifest(landing, FAULT_WINDOW.id)
    assert manifest.sha256 == reference.sha256 and len(list(verified_parts(directory, manifest))) == len(
        manifest.parts)

    small_disk.free()
    env.pop("FAULTS_RLIMIT_FSIZE", None)
    assert Task("download", args, env, logs).wait().result()["sha256"] == reference.sha256
    assert len(list(versions.iterdir())) == 1
    import_in_process(pg_url, fresh_schema, landing, FAULT_WINDOW)
    assert fingerprint_of(pg_url, fresh_schema) == reference.imported
    assert not reconciles(pg_url, fresh_schema)
