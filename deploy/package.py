"""`make package`: what a cluster needs to run featurelake, in dist/.

- featurelake-<version>-py3-none-any.whl: the engine, for `pip install` on images and edge nodes;
- featurelake_code.zip: the engine (with its HTML templates) and the project's features package, for
  spark-submit --py-files;
- featurelake_conf.tar.gz: conf/ and the expectations, for --archives (or to unpack beside the driver);
- jobs/: the spark-submit entry points.

Only source files go in (.py and the .j2 templates; .yaml, .json, .xml for conf): no __pycache__, no lake, no
local state. The README's spark-submit commands use these names.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from featurelake.core.config import project_directories

PROJECT = Path(__file__).resolve().parents[1]
ENGINE = "featurelake"


def _sources(directory: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix in suffixes and "__pycache__" not in p.parts
    )


def build(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(PROJECT)],
        check=True,
    )
    [wheel] = sorted(out.glob("featurelake-*.whl"))
    # the project's features package and expectations, where its conf says they are
    own = project_directories(PROJECT / "conf")
    code = out / "featurelake_code.zip"
    with zipfile.ZipFile(code, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in (PROJECT / ENGINE, own["features"]):
            for path in _sources(package, (".py", ".j2")):
                archive.write(path, path.relative_to(PROJECT))
    conf = out / "featurelake_conf.tar.gz"
    with tarfile.open(conf, "w:gz") as archive:
        for directory in (PROJECT / "conf", own["expectations"]):
            for path in _sources(directory, (".yaml", ".json", ".xml")):
                archive.add(path, str(path.relative_to(PROJECT)))
    jobs = out / "jobs"
    shutil.rmtree(jobs, ignore_errors=True)
    jobs.mkdir()
    for job in _sources(PROJECT / "jobs", (".py",)):
        shutil.copy2(job, jobs / job.name)
    return {"wheel": wheel, "code": code, "conf": conf, "jobs": jobs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(PROJECT / "dist"), help="output directory (default dist/)")
    built = build(Path(parser.parse_args().out).resolve())
    for kind, path in built.items():
        print(f"package: {kind:5} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
