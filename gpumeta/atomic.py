"""Atomic outputs: a reader never sees a half-written file or directory.

Everything is written to a temporary sibling and renamed into place (rename is atomic on POSIX within one
file system), so an interrupted run leaves either the old output or nothing, never a partial one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes owner-only files; the final file gets the permissions a plain open() would give.
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; on success it replaces `path` as a whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes owner-only directories
    try:
        yield tmp
        if path.exists():
            # Move the old directory aside first: os.replace cannot overwrite a non-empty directory.
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_csv(path: str | os.PathLike, frame, **kwargs) -> Path:
    """Write a pandas DataFrame as CSV (or TSV with sep='\\t') atomically."""
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)
    return Path(path)


def write_parquet(path: str | os.PathLike, table) -> Path:
    """Write a pyarrow Table or pandas DataFrame as Parquet atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def remove_outputs(out_dir: Path, names: tuple[str, ...]) -> None:
    """Remove the files and directories a command owns in `out_dir` (its --overwrite), nothing else."""
    for name in names:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def resume_state(out_dir: Path, state_file: str, state: dict, keys: tuple[str, ...], outputs: tuple[str, ...],
                 what: str) -> dict | None:
    """The state a previous run of a resumable command left in `out_dir/state_file`, when it matches `state`
    on `keys` (resume); None when there is none. A mismatch, or outputs without a state, is refused in one
    line: resuming them would mix two runs' results. `what` names the run ("a build", "an annotate run")."""
    from .errors import GpumetaError

    path = out_dir / state_file
    if not path.exists():
        if any((out_dir / name).exists() for name in outputs):
            raise GpumetaError(f"{out_dir} holds {what}'s output but no {state_file}; pass --overwrite to start over")
        return None
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GpumetaError(f"{path} is unreadable ({type(exc).__name__}); pass --overwrite to start over") from exc
    for key in keys:
        if old.get(key) != state[key]:
            detail = key
            if isinstance(state[key], dict):
                diff = [k for k in state[key] if (old.get(key) or {}).get(k) != state[key][k]]
                detail = f"{key}.{diff[0]}" if diff else key
            raise GpumetaError(f"{out_dir} holds {what} with a different {detail}; pass --overwrite to start over, "
                               "or use the same inputs and parameters to resume")
    return old


def _json_default(obj: Any):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
