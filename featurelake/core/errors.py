"""Every error that reaches users: a plain sentence naming what is wrong and what to do, and its exit code.

A scheduler tells the kinds apart by the exit code alone:

====  ==========================================================================================
code  meaning
====  ==========================================================================================
0     done
1     an unexpected failure (a bug, or a Spark failure nobody foresaw): one line, the trace with
      ``FEATURELAKE_DEBUG=1``
2     fix something: bad input, configuration, suite or environment (``FeaturelakeError``)
3     ``monitor`` (or ``run --fail-on-retrain``) finished and recommends retraining
4     not ready yet: an upstream table, a delivery's inputs or a champion model is missing; run
      again later, nothing to fix (``NotReady``)
5     commit conflicts with concurrent writers outlasted every retry; run again once they are done
      (``CommitConflict``)
====  ==========================================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_RETRAIN_RECOMMENDED = 3
EXIT_NOT_READY = 4
EXIT_COMMIT_CONFLICT = 5


class FeaturelakeError(Exception):
    """An error in input, configuration or environment that the user can fix.

    The message is a complete sentence meant to be printed as it is, without a traceback.
    """

    exit_code = EXIT_USER_ERROR


class ConfigError(FeaturelakeError):
    """Configuration that cannot be loaded or validated."""


class InputError(FeaturelakeError):
    """A delivery in the landing zone that cannot be ingested as it is."""


class EnvironmentProblem(FeaturelakeError):
    """The machine lacks something Spark needs (Java, the Delta JARs)."""


class SuiteError(FeaturelakeError):
    """A suite that cannot be used: bad JSON, an unknown expectation type, a column the table lacks."""


class GateFailed(FeaturelakeError):
    """A gate stopped a table from being published."""


class NotReady(FeaturelakeError):
    """What a step reads is not there yet (an upstream table, a champion model): wait, nothing to fix."""

    exit_code = EXIT_NOT_READY


class CommitConflict(FeaturelakeError):
    """A step's commits kept conflicting with concurrent writers after every attempt conf allows."""

    exit_code = EXIT_COMMIT_CONFLICT
