"""File listing and reading through Hadoop's FileSystem, so the same code works on local disk and on
object stores (s3a://, abfss://, gs://) without a second client library."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int


def _filesystem(spark, path: str):
    jvm = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration()), hadoop_path


def list_files(spark, directory: str, pattern: str) -> list[FileInfo]:
    """Files in a directory matching a glob pattern, sorted by name; empty when the directory is absent."""
    fs, base = _filesystem(spark, directory)
    if not fs.exists(base):
        return []
    statuses = fs.globStatus(spark._jvm.org.apache.hadoop.fs.Path(base, pattern)) or []
    files = [FileInfo(s.getPath().toString(), s.getLen()) for s in statuses if s.isFile()]
    return sorted(files, key=lambda f: f.path)


def list_directories(spark, directory: str) -> list[str]:
    """Names of the sub-directories of a directory, sorted; empty when it is absent."""
    fs, base = _filesystem(spark, directory)
    if not fs.exists(base):
        return []
    return sorted(s.getPath().getName() for s in fs.listStatus(base) if s.isDirectory())


def read_first_line(spark, path: str, limit: int = 1 << 20) -> str | None:
    """The first line of a text file (without its line break), or None for an empty file."""
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
