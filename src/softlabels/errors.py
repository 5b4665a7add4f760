"""Errors a user can cause. The command line prints their message alone, without a traceback."""


class SoftlabelsError(Exception):
    """Base class of the errors the CLI reports as one clear message."""


class ConfigError(SoftlabelsError):
    """A config key is missing, misspelt or has a value outside what it accepts."""


class InputError(SoftlabelsError):
    """An input file is missing, truncated, corrupt or from another data set."""


class DivergenceError(SoftlabelsError):
    """Training produced a non-finite loss."""


class DownloadError(SoftlabelsError):
    """A download failed or its checksum did not match."""
