"""Every code block of README.md runs as written, on a fresh directory (issue 9 §2).

```python blocks run whole, each in its own interpreter in an empty directory. ```bash blocks run line by
line: `gpumeta ...` lines run (as `python -m gpumeta ...`, from a directory that sees the repository's
configs/ as the repository root does); a line that sets up a virtual environment is skipped for the reason
in SKIPPED. Any other kind of line fails the test, so a new README block is either run here or skipped with
a stated reason, never ignored.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)

#: Lines not run, with why: the setup commands install the package into a fresh venv (network, minutes);
#: .ci/run executes exactly that on every CI run, and the demo and the suite are tested on their own.
SKIPPED = {"python3 -m venv": "creates a virtual environment and installs the package (network, minutes); "
                              ".ci/run runs this setup on a fresh clone",
           "gpumeta annotate --model run/model --fasta chr22_slice.fa":
               "needs the chr22 example's SpliceAI outputs (TensorFlow, minutes); "
               "scripts/chr22_spliceai_example.py runs this command as its last step, and "
               "tests/test_annotate.py runs annotate end to end on a synthetic genome"}


def readme_blocks(language: str) -> list[str]:
    return [code for lang, code in _FENCE.findall(README.read_text()) if lang == language]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # The child imports this checkout's gpumeta (PYTHONPATH), as the editable install would.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "2"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_readme_has_blocks_of_both_kinds():
    assert len(readme_blocks("python")) >= 1 and len(readme_blocks("bash")) >= 3


@pytest.mark.parametrize("index", range(len(readme_blocks("python"))))
def test_python_block_runs_as_written(index, tmp_path):
    code = readme_blocks("python")[index]
    done = _run([sys.executable, "-c", code], tmp_path)
    assert done.returncode == 0, f"README python block {index + 1} failed:\n{code}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    # The block trains a model and scores new genes with it: the files and the probabilities are there.
    assert (tmp_path / "run" / "model" / "manifest.json").is_file()
    assert "(" in done.stdout and ", 3)" in done.stdout


def _bash_lines() -> list[str]:
    """Each command of the README's bash blocks, its backslash-continued lines joined."""
    joined = "\n".join(readme_blocks("bash")).replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def _skipped(line: str) -> bool:
    return any(line.startswith(prefix) for prefix in SKIPPED)


def test_every_bash_line_is_run_or_skipped_with_a_reason():
    for line in _bash_lines():
        assert line.startswith("gpumeta ") or _skipped(line), (
            f"README bash line neither run by tests/test_readme.py nor skipped with a reason: {line}")


def test_gpumeta_command_lines_run_as_written(tmp_path):
    (tmp_path / "configs").symlink_to(ROOT / "configs", target_is_directory=True)
    commands = [line for line in _bash_lines() if line.startswith("gpumeta ") and not _skipped(line)]
    assert commands
    for line in commands:
        done = _run([sys.executable, "-m", "gpumeta", *shlex.split(line)[1:]], tmp_path)
        assert done.returncode == 0, f"README line failed: {line}\n{done.stderr[-3000:]}"
    assert (tmp_path / "toy-run" / "report.html").is_file() and (tmp_path / "toy-preds.parquet").is_file()
