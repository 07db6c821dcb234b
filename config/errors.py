"""The one error the config package raises. Imports nothing of ATLAS."""


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""
