from __future__ import annotations

import os
from pathlib import Path

from sandbox.backends import Job, read_artifact, staged
from sandbox.config import Limits


def test_artifacts_must_be_regular_files(tmp_path: Path) -> None:
    (tmp_path / "prog").write_bytes(b"\x7fELF")
    (tmp_path / "link").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "fifo")
    assert read_artifact(str(tmp_path), "prog") == b"\x7fELF"
    assert read_artifact(str(tmp_path), "link") is None
    assert read_artifact(str(tmp_path), "fifo") is None  # and does not block
    assert read_artifact(str(tmp_path), "missing") is None
    assert read_artifact(str(tmp_path), None) is None


def test_stdin_lives_outside_the_box_and_everything_is_removed(tmp_path: Path) -> None:
    job = Job(
        argv=("x",),
        mounts=(),
        limits=Limits(),
        files={"main.py": b"print(1)"},
        stdin=b"secret spec",
    )
    with staged(job, str(tmp_path)) as (box, stdin_path):
        assert os.listdir(box) == ["main.py"]
        assert os.path.dirname(stdin_path) != box
        assert Path(stdin_path).read_bytes() == b"secret spec"
        assert os.stat(stdin_path).st_mode & 0o077 == 0
    assert os.listdir(tmp_path) == []
