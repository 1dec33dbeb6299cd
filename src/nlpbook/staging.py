"""Staging one dataset from a mirror directory into the data root, verified.

A mirror may hold a dataset's extracted layout, its archive, or a file used in place (a
GloVe zip): `stage_one` copies the layout, extracts the archive or copies the file, and
checks the result. `nlpbook.data.stage` runs it over the registry for
`python -m nlpbook.data stage DIR` (.ci/run, and instructors preparing a lab without
internet), so that every chapter (01-05) then finds its data in the root.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nlpbook.archives import extract, move_tree, temp_dir
from nlpbook.data_errors import ChecksumError, DataError
from nlpbook.file_checks import is_complete, verify
from nlpbook.registry import DatasetSpec, Source


def stage_one(spec: DatasetSpec, mirror: Path, root: Path) -> bool:
    """Stage one dataset from `mirror`; False if the mirror does not have it.

    Chapters 02-05 (the data they read).
    """
    layout = mirror / spec.target
    archives = [(s, mirror / s.filename) for s in spec.sources if (mirror / s.filename).is_file()]
    problems = []
    if spec.extract and layout.is_dir():
        try:
            _stage_layout(spec, layout, root)
            return True
        except DataError as e:  # an archive beside it may still be good
            problems.append(str(e))
    if not archives and not problems:
        return False
    for source, archive in archives:
        try:
            if spec.extract:
                if not is_complete(root / spec.target, spec.files):
                    verify(archive, source.checksum)
                    extract(archive, root)
                missing = [f for f in spec.files if not (root / spec.target / f).exists()]
                if not missing:
                    return True
                problems.append(f"{archive} does not hold {', '.join(missing)}")
            else:
                _copy_verified(source, archive, root)
                return True
        except DataError as e:
            problems.append(str(e))
    raise DataError("; ".join(problems))


def _stage_layout(spec: DatasetSpec, layout: Path, root: Path) -> None:
    """Copy an extracted layout into the root (never overwriting), then check its files."""
    files = [f for f in spec.files if (layout / f).exists()]  # a mirror may hold a part
    if spec.files and not files:
        raise DataError(f"{layout} has none of {', '.join(spec.files)}")
    if not is_complete(root / spec.target, files):
        _check_links(layout)
        tmp = temp_dir(_mkdir(root), ".stage-")
        try:
            shutil.copytree(layout, tmp / "copy")
            move_tree(tmp / "copy", root / spec.target)
        except shutil.Error as e:  # one line, not the list of every file that failed
            problems = e.args[0] if e.args and isinstance(e.args[0], list) else [("", "", e)]
            source, _, why = problems[0]
            raise DataError(
                f"{layout} could not be copied ({len(problems)} problem(s); the first: "
                f"{source}: {why})"
            ) from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if not is_complete(root / spec.target, files):
        raise DataError(f"{root / spec.target} lacks some of {', '.join(files)} after copying")


def _check_links(layout: Path) -> None:
    """Refuse a layout with a symlink loop or a broken symlink before copying anything.

    copytree follows symlinks: a link back to a folder above it would be copied again at
    every level until the path grows too long.
    """
    for folder, dirs, names in os.walk(layout, followlinks=True):
        here = Path(folder)
        real = here.resolve()
        for above in here.relative_to(layout).parents:
            if (layout / above).resolve() == real:
                raise DataError(f"{here} is a symlink loop (it leads back to {layout / above})")
        for name in dirs + names:
            path = here / name
            if path.is_symlink() and not path.exists():
                raise DataError(f"{path} is a broken symlink or a symlink loop")


def _copy_verified(source: Source, archive: Path, root: Path) -> None:
    """Copy a file used in place (a GloVe zip) into the root via .part, both verified."""
    dest = root / source.filename
    if dest.is_file():
        try:
            verify(dest, source.checksum)
            return
        except ChecksumError:
            pass  # replaced below by the mirror's verified copy
    verify(archive, source.checksum)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        shutil.copyfile(archive, part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
