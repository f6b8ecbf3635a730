"""File listing and reading through Hadoop's FileSystem, so the same code works on local disk and on
object stores (s3a://, abfss://, gs://) without a second client library."""

from __future__ import annotations

import errno
import fnmatch
import getpass
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from featurelake.core.errors import EnvironmentProblem, FeaturelakeError, InputError
from featurelake.core.settings import has_scheme


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    modified: int = 0  # milliseconds since the epoch, as the file system reports it


def _filesystem(spark, path: str):
    jvm = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration()), hadoop_path


def list_files_in_folders(spark, directory: str, folders: list[str], pattern: str) -> dict[str, list[FileInfo]]:
    """Files matching a pattern in the named sub-folders of a directory, by folder, in one glob. On the local
    disk the folders are read directly (a year of hourly files is 8,760 statuses: through Py4J that cost seconds
    of round trips), with the paths and times Hadoop's local file system gives."""
    if not folders:
        return {}
    local = not has_scheme(directory) or directory.startswith("file:")
    if local and "{" not in pattern:  # a Hadoop alternation has no fnmatch spelling
        return _local_files_in_folders(Path(urlsplit(directory).path), folders, pattern)
    fs, base = _filesystem(spark, directory)
    if not fs.exists(base):
        return {}
    glob = spark._jvm.org.apache.hadoop.fs.Path(base, "{" + ",".join(folders) + "}/" + pattern)
    found: dict[str, list[FileInfo]] = {}
    for status in fs.globStatus(glob) or []:
        if status.isFile():
            path = status.getPath()
            found.setdefault(path.getParent().getName(), []).append(
                FileInfo(path.toString(), status.getLen(), status.getModificationTime())
            )
    return {folder: sorted(files, key=lambda f: f.path) for folder, files in found.items()}


def _local_files_in_folders(base: Path, folders: list[str], pattern: str) -> dict[str, list[FileInfo]]:
    found: dict[str, list[FileInfo]] = {}
    for folder in folders:
        try:
            entries = list(os.scandir(base / folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if fnmatch.fnmatchcase(entry.name, pattern) and entry.is_file():
                stat = entry.stat()
                info = FileInfo(f"file:{entry.path}", stat.st_size, stat.st_mtime_ns // 1_000_000)
                found.setdefault(folder, []).append(info)
    return {folder: sorted(files, key=lambda f: f.path) for folder, files in found.items()}


def list_directories(spark, directory: str) -> list[str]:
    """Names of the sub-directories of a directory, sorted; empty when it is absent."""
    fs, base = _filesystem(spark, directory)
    if not fs.exists(base):
        return []
    return sorted(s.getPath().getName() for s in fs.listStatus(base) if s.isDirectory())


def relative_files(spark, directory: str, skip: str = "_delta_log") -> set[str]:
    """Every file under a directory, recursively, as paths relative to it (a table's data files, its log
    directory ``skip``ped); empty when the directory is absent."""
    fs, base = _filesystem(spark, directory)
    if not fs.exists(base):
        return set()
    root = fs.makeQualified(base).toUri().getPath().rstrip("/")
    found, files = set(), fs.listFiles(base, True)
    while files.hasNext():
        relative = files.next().getPath().toUri().getPath()[len(root) + 1 :]
        if not relative.startswith(f"{skip}/"):
            found.add(relative)
    return found


def read_first_lines(spark, paths: list[str], encoding: str = "utf-8") -> list[str | None]:
    """The first line of each file, read concurrently (each read is a round trip to the file system)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda path: read_first_line(spark, path, encoding=encoding), paths))


GZIP_MAGIC = b"\x1f\x8b"


def read_first_line(spark, path: str, limit: int = 1 << 20, encoding: str = "utf-8") -> str | None:
    """The first line of a text file (without its line break), or None for an empty file. A file that is
    compressed without its name saying so, or whose first line is not text in the encoding, is one sentence.

    Local files are read directly (a Py4J round trip per file costs more than the read); any other file
    system goes through Hadoop's client."""
    if path.startswith("file:"):
        with open(urlsplit(path).path, "rb") as handle:
            raw = handle.readline(limit)
        if raw.startswith(GZIP_MAGIC) and not path.endswith(".gz"):
            raise InputError(
                f"{path} is gzip-compressed but its name does not end in .gz; name it <name>.gz (Spark "
                "decompresses by the name) or deliver it uncompressed. Nothing was written."
            )
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise InputError(
                f"{path} is not {encoding} text (byte 0x{raw[error.start]:02x} at position {error.start} of its "
                "first line); re-encode it, or declare the source's encoding in its options (encoding: "
                "ISO-8859-1). Nothing was written."
            ) from None
        return line.rstrip("\r\n").removeprefix("\ufeff") if line else None
    fs, hadoop_path = _filesystem(spark, path)
    stream = fs.open(hadoop_path)
    try:
        reader = spark._jvm.java.io.BufferedReader(
            spark._jvm.java.io.InputStreamReader(stream, "UTF-8"), min(limit, 1 << 16)
        )
        line = reader.readLine()
    finally:
        stream.close()
    if line is None:
        return None
    return line.removeprefix("\ufeff")


def write_text(spark, path: str, text: str) -> None:
    """Write a small text file (a manifest), replacing it; through Hadoop, so any lake root works."""
    write_bytes(spark, path, text.encode("utf-8"))


def write_files(spark, directory: str, files: dict[str, bytes], prefix: str = "") -> None:
    """Write small files (a report and its plots) into a directory, each named ``prefix + name``."""
    for name, content in files.items():
        write_bytes(spark, f"{directory}/{prefix}{name}", content)


def write_bytes(spark, path: str, content: bytes) -> None:
    """Write a small file (a report, a plot), replacing it."""
    fs, hadoop_path = _filesystem(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(content))
    finally:
        stream.close()


def copy_to_local(spark, path: str, target: str) -> bool:
    """Copy a file or a directory (recursively) to a local path; False when there is nothing at ``path``."""
    fs, hadoop_path = _filesystem(spark, path)
    if not fs.exists(hadoop_path):
        return False
    local = spark._jvm.org.apache.hadoop.fs.Path(f"file://{target}")
    fs.copyToLocalFile(False, hadoop_path, local, True)  # the raw local file system: no .crc files beside
    return True


def read_text(spark, path: str) -> str | None:
    """A small text file's content, or None when it does not exist."""
    fs, hadoop_path = _filesystem(spark, path)
    if not fs.exists(hadoop_path):
        return None
    stream = fs.open(hadoop_path)
    try:
        reader = spark._jvm.java.io.BufferedReader(spark._jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        line = reader.readLine()
        while line is not None:
            lines.append(line)
            line = reader.readLine()
    finally:
        stream.close()
    return "\n".join(lines)


# How an object store says it refused a request's credentials, as S3A reports it (the status S3 answered and
# the exception S3A maps it to), whatever the operation that met it; the codes S3 names, in words.
_REFUSED = re.compile(r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDeniedException|Status Code: 403|ExpiredToken")
_REFUSAL_CODES = {
    "InvalidAccessKeyId": "it knows no such access key",
    "SignatureDoesNotMatch": "the secret does not match the access key",
    "ExpiredToken": "the session token has expired",
}
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


# How a client says the store did not answer at all (down, cut off, a wrong endpoint), as S3A and the cloud SDKs
# report it after their retries.
_UNANSWERED = re.compile(
    r"Connection refused|Connection reset|failed to respond|Unable to execute HTTP request|UnknownHostException|"
    r"ConnectTimeoutException|connect timed out"
)


def store_problem(error: BaseException, lake_root: str, endpoint: str | None) -> EnvironmentProblem | None:
    """The sentence for an object store that refused the credentials or did not answer, for a lake on one (the
    ``endpoint`` conf gives it, if any); else None."""
    if isinstance(error, FeaturelakeError):  # already a sentence
        return None
    return refused_credentials(error, lake_root) or unanswered(error, lake_root, endpoint)


def unanswered(error: BaseException, lake_root: str, endpoint: str | None) -> EnvironmentProblem | None:
    """The sentence for an object store that stopped answering (or never did), for a lake on one; else None.
    A Delta table's version is its last commit, so whatever was cut short left every table where it was."""
    text = str(error)
    from_the_jvm = "java." in text  # the store's client in Spark's JVM, not e.g. MLflow's Python client
    remote = has_scheme(lake_root) and not lake_root.startswith("file:")
    if not remote or not (from_the_jvm and _UNANSWERED.search(text)):
        return None
    where = f" at {endpoint}" if endpoint else ""
    setting = "spark.hadoop.fs.s3a.endpoint" if lake_root.startswith("s3a://") else "the store's endpoint setting"
    return EnvironmentProblem(
        f"The object store of the lake {lake_root} did not answer{where}; check that it is up and reachable from "
        f"here and that {setting} in conf's spark settings names it, then run again: every table is still at its "
        "last committed version."
    )


def refused_credentials(error: BaseException, lake_root: str) -> EnvironmentProblem | None:
    """The sentence for an object store refusing the credentials it was given, for a lake on it; else None."""
    text = str(error)
    if not lake_root.startswith("s3a://") or not _REFUSED.search(text):
        return None
    meaning = next((words for code, words in _REFUSAL_CODES.items() if code in text), "access denied")
    return EnvironmentProblem(
        f"The object store of the lake {lake_root} refused the credentials of the environment ({meaning}); set "
        f"{', '.join(CREDENTIAL_VARIABLES[:2])} (and {CREDENTIAL_VARIABLES[2]} for temporary ones) to a key that "
        "may read and write the lake, or unset them to use the machine's role. Nothing was written."
    )


# How a local file system refuses a write, as Python's OSError and Hadoop's local client word it (Hadoop says only
# "Mkdirs failed" when it cannot create a directory; the probe below then finds out why).
_DISK_REFUSALS = {
    errno.ENOSPC: "No space left on device",
    errno.EROFS: "Read-only file system",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
}
_REFUSED_WRITE = re.compile("|".join([*_DISK_REFUSALS.values(), "Mkdirs failed to create"]))


def check_writable(lake_root: str) -> None:
    """A local lake root this process can write to, found out before Spark starts (a probe file created, written
    and removed); one sentence when it cannot. An object store's lake is checked by its first request."""
    if has_scheme(lake_root):
        return
    problem = _probe(Path(lake_root), create=True)
    if problem is not None:
        raise _disk_sentence(problem, Path(lake_root), Path(lake_root), during_run=False)


def disk_problem(error: BaseException, lake_root: str) -> EnvironmentProblem | None:
    """The sentence for a write to a local lake that its file system refused (full, read-only, not permitted),
    naming the directory that refused: the nearest existing one of the first path under the lake root the failure
    names, probed; else None."""
    text = str(error)
    if has_scheme(lake_root) or isinstance(error, FeaturelakeError) or not _REFUSED_WRITE.search(text):
        return None
    root = Path(lake_root)
    named = (Path(p.rstrip(".")) for p in re.findall(r"(?:file:)?(/[^\s:'\"(),]+)", text))  # a sentence's full stop
    where = next((p for p in named if p == root or root in p.parents), root)
    directory = next(p for p in [where, *where.parents] if p.is_dir())
    problem = _probe(directory, create=False)
    if problem is None:  # it takes a write now (space freed meanwhile, or a read was refused): what the failure said
        code = next((c for c, words in _DISK_REFUSALS.items() if words in text), errno.EACCES)
        problem = OSError(code, os.strerror(code))
        return _disk_sentence(problem, root, directory, during_run=True, proved=False)
    return _disk_sentence(problem, root, directory, during_run=True)


def _probe(directory: Path, create: bool) -> OSError | None:
    """What the file system answers to a small file written into (and removed from) the directory, if it refuses."""
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".featurelake-probe-") as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return error
    return None


def _disk_sentence(
    problem: OSError, root: Path, where: Path, during_run: bool, proved: bool = True
) -> EnvironmentProblem:
    """The sentence for what the file system refused; ``proved``: the probe met the refusal (else only the
    failure's text named it, and a refused access may have been a read)."""
    after = (
        "then run again: every table is still at its last committed version, and finished steps are skipped."
        if during_run
        else "then run again. Nothing was written."
    )
    place = f"the lake root {root}" if where == root else f"{where} in the lake root {root}"
    elsewhere = "point lake.root (FEATURELAKE_LAKE_ROOT) elsewhere,"
    if problem.errno == errno.ENOSPC:
        what = (
            f"The device of {place} is full; free space there or {elsewhere.replace('elsewhere', 'at a larger disk')}"
        )
    elif problem.errno == errno.EROFS:
        what = f"{place[0].upper()}{place[1:]} is on a read-only file system; mount it writable or {elsewhere}"
    else:
        access = "write" if proved else "read or write"
        what = f"This process ({_user()}) may not {access} {place} ({problem.strerror}); allow it or {elsewhere}"
    return EnvironmentProblem(f"{what} {after}")


def _user() -> str:
    try:
        return f"user {getpass.getuser()}"
    except (KeyError, OSError):  # a uid without a name (a container's)
        return f"uid {os.getuid()}"
