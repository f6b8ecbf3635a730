"""The one exception type that reaches users: a plain sentence naming what is wrong and what to do."""


class FeaturelakeError(Exception):
    """An error in input, configuration or environment that the user can fix.

    The message is a complete sentence meant to be printed as it is, without a traceback.
    """


class ConfigError(FeaturelakeError):
    """Configuration that cannot be loaded or validated."""


class InputError(FeaturelakeError):
    """A delivery in the landing zone that cannot be ingested as it is."""


class EnvironmentProblem(FeaturelakeError):
    """The machine lacks something Spark needs (Java, the Delta JARs)."""
