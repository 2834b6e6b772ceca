"""core.files on a real filesystem: private directories, atomic replacement, no-follow reads."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO

import pytest

from ragdrop.core import files
from ragdrop.core.files import (
    UnsafePathError,
    atomic_file,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    building_dir,
    check_private_dir,
    create_file,
    open_nofollow,
    private_dir,
    read_bytes,
    read_json,
    read_text,
    swap_dir,
)

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(os.name != "posix", reason="modes, owners and O_NOFOLLOW are POSIX"),
]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---- private directories -------------------------------------------------------------------


def test_private_dir_creates_0700_with_its_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "state"
    assert private_dir(target) == target
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert _mode(directory) == 0o700
    assert private_dir(target) == target  # an existing private directory is accepted


def test_private_dir_refuses_a_group_writable_directory(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o770)
    with pytest.raises(UnsafePathError, match="writable by group or others.*chmod 700"):
        private_dir(shared, "cache directory")
    # Callers that raised either kind before keep catching it.
    with pytest.raises(ValueError, match="cache directory"):
        private_dir(shared, "cache directory")
    with pytest.raises(PermissionError):
        check_private_dir(shared)


def test_private_dir_refuses_a_symlinked_directory(tmp_path: Path) -> None:
    real = private_dir(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        private_dir(link)


def test_check_private_dir_refuses_a_file_and_reports_a_missing_path(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(UnsafePathError, match="not a directory"):
        check_private_dir(file)
    with pytest.raises(FileNotFoundError):
        check_private_dir(tmp_path / "missing")


# ---- atomic replacement --------------------------------------------------------------------


def test_atomic_write_replaces_the_content_with_a_private_file(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "é": "ü"})
    assert read_json(target) == {"a": 2, "é": "ü"}
    assert _mode(target) == 0o600
    assert _listing(tmp_path) == ["data.json"]


def test_atomic_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, b"old content")

    def half_then_fail(handle: IO[bytes]) -> None:
        handle.write(b"new ")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old content"
    assert _listing(tmp_path) == ["data.bin"]  # the temporary file is gone


def test_atomic_file_keeps_the_old_content_when_the_block_fails(tmp_path: Path) -> None:
    target = tmp_path / "points.jsonl"
    atomic_write_bytes(target, b"old\n")
    with pytest.raises(RuntimeError, match="scroll failed"), atomic_file(target) as handle:
        handle.write(b"new\n")
        raise RuntimeError("scroll failed")
    assert target.read_bytes() == b"old\n"
    assert _listing(tmp_path) == ["points.jsonl"]
    with atomic_file(target) as handle:
        handle.write(b"new\n")
    assert target.read_bytes() == b"new\n"


def test_atomic_write_replaces_a_symlink_at_the_target_instead_of_following_it(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    directory = private_dir(tmp_path / "ours")
    target = directory / "settings.json"
    target.symlink_to(victim)
    atomic_write_json(target, {"top_k": 5})
    assert victim.read_bytes() == b"precious"
    assert not target.is_symlink()
    assert read_json(target) == {"top_k": 5}


def test_atomic_write_never_writes_through_a_symlink_at_the_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    directory = private_dir(tmp_path / "ours")
    target = directory / "settings.json"
    atomic_write_json(target, {"v": 1})
    planted = directory / ".settings.json.tmp-0123"
    planted.symlink_to(victim)
    monkeypatch.setattr(files, "_tmp_name", lambda path: planted)
    with pytest.raises(FileExistsError):
        atomic_write_json(target, {"v": 2})
    assert victim.read_bytes() == b"precious"
    assert planted.is_symlink()  # not ours: left alone, not deleted
    assert read_json(target) == {"v": 1}


def test_create_file_refuses_an_existing_file_or_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / "link"
    link.symlink_to(victim)
    for path in (victim, link):
        with pytest.raises(FileExistsError):
            create_file(path)
    assert victim.read_bytes() == b"precious"
    with create_file(tmp_path / "new") as handle:
        handle.write(b"x")
    assert _mode(tmp_path / "new") == 0o600


# ---- reads that never follow links -----------------------------------------------------------


def test_open_nofollow_refuses_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"ok": true}', encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert read_json(real) == {"ok": True}
    assert read_text(real) == '{"ok": true}'
    assert read_bytes(real) == b'{"ok": true}'
    for read in (read_json, read_text, read_bytes):
        with pytest.raises(UnsafePathError, match="symbolic link"):
            read(link)
    with pytest.raises(UnsafePathError):
        open_nofollow(link, "rb")
    with pytest.raises(FileNotFoundError):
        open_nofollow(tmp_path / "missing")
    with pytest.raises(ValueError, match="mode must be"):
        open_nofollow(real, "w")


# ---- directories replaced whole ------------------------------------------------------------


def test_building_dir_swaps_the_new_generation_in_whole(tmp_path: Path) -> None:
    target = tmp_path / "index"
    with building_dir(target) as scratch:
        (scratch / "a").write_text("1")
        (scratch / "stale").write_text("x")
    with building_dir(target) as scratch:
        assert not target.joinpath("b").exists()  # nothing shows before the block ends
        (scratch / "a").write_text("2")
        (scratch / "b").write_text("2")
    assert _listing(target) == ["a", "b"]
    assert (target / "a").read_text() == "2"
    assert _mode(target) == 0o700
    assert _listing(tmp_path) == ["index"]  # no scratch or old generation left


def test_building_dir_leaves_the_old_generation_untouched_on_error(tmp_path: Path) -> None:
    target = tmp_path / "index"
    with building_dir(target) as scratch:
        (scratch / "a").write_text("old")
    with pytest.raises(OSError, match="disk full"), building_dir(target) as scratch:
        (scratch / "a").write_text("new")
        raise OSError("disk full")
    assert _listing(target) == ["a"]
    assert (target / "a").read_text() == "old"
    assert _listing(tmp_path) == ["index"]


def test_building_dir_refuses_a_shared_parent(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        with building_dir(shared / "index"):
            pass
    assert _listing(shared) == []


def test_swap_dir_replaces_a_symlink_without_touching_what_it_pointed_to(
    tmp_path: Path,
) -> None:
    elsewhere = private_dir(tmp_path / "elsewhere")
    (elsewhere / "keep").write_text("precious")
    target = tmp_path / "index"
    target.symlink_to(elsewhere, target_is_directory=True)
    new = private_dir(tmp_path / "new")
    (new / "a").write_text("1")
    swap_dir(new, target)
    assert not target.is_symlink()
    assert _listing(target) == ["a"]
    assert (elsewhere / "keep").read_text() == "precious"
    assert _listing(tmp_path) == ["elsewhere", "index"]
