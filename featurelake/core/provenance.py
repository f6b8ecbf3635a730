"""The code version a build records: the git commit of the project, or what packaging stamped."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from featurelake.core.settings import Settings

GIT_COMMIT_VARIABLE = "FEATURELAKE_GIT_COMMIT"


def git_commit(settings: Settings) -> str:
    """The code version: $FEATURELAKE_GIT_COMMIT (set by packaging), else the git HEAD of the project
    (or of the engine's checkout), with ``-dirty`` when files differ from it or are not committed."""
    if os.environ.get(GIT_COMMIT_VARIABLE):
        return os.environ[GIT_COMMIT_VARIABLE]
    for directory in (settings.project_dir, Path(__file__).resolve().parent):
        try:
            head = _git(directory, "rev-parse", "HEAD")
            dirty = _git(directory, "status", "--porcelain")
        except (OSError, subprocess.CalledProcessError):
            continue
        return f"{head}-dirty" if dirty else head
    return "unknown"


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
