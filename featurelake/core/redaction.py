"""One redaction for everything the engine prints: credentials in URIs and the values of secret variables.

Secrets reach featurelake only from the environment (MLFLOW_TRACKING_URI=http://user:password@host, AWS keys,
tokens). ``redact`` hides a URI's password and every value of an environment variable whose name says it is
a secret; ``redacting`` wraps a stream so that every line written through it (print, logging, a library's
messages) is redacted on the way out. The command line wraps standard output and standard error with it.
"""

from __future__ import annotations

import io
import os
import re

HIDDEN = "***"
# scheme://user:password@host -> scheme://user:***@host
_URI_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
_SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY)", re.I)
_SHORTEST_SECRET = 6  # shorter values (e.g. "true") would blank out ordinary words


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The values of the environment's secret variables, and the passwords in its URIs, longest first."""
    environ = os.environ if environ is None else environ
    found = {v for k, v in environ.items() if _SECRET_NAME.search(k) and len(v) >= _SHORTEST_SECRET}
    for value in environ.values():
        for match in re.finditer(r"://[^/\s:@]*:([^@\s/]+)@", value):
            if len(match.group(1)) >= _SHORTEST_SECRET:
                found.add(match.group(1))
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: list[str] | None = None) -> str:
    """The text with every URI's password and every secret value of the environment replaced by ***."""
    text = _URI_PASSWORD.sub(lambda m: m.group(1) + HIDDEN + "@", text)
    for secret in secret_values() if secrets is None else secrets:
        text = text.replace(secret, HIDDEN)
    return text


class _Redacting(io.TextIOBase):
    """A text stream that redacts what it writes, line by line, to the stream it wraps."""

    def __init__(self, stream, secrets: list[str]):
        self._stream, self._secrets, self._pending = stream, secrets, ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._stream.write(redact(line, self._secrets) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(redact(self._pending, self._secrets))
            self._pending = ""
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


def redacting(stream):
    """``stream``, redacted: every line written through it has the environment's secrets hidden."""
    return _Redacting(stream, secret_values())
