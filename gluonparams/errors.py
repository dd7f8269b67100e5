"""The exceptions gluonparams raises.

Every error the library raises is a :class:`GluonParamsError`, so ``except
gluonparams.GluonParamsError`` catches all of them. Subclasses also derive from
the built-in exception a caller would expect (``LookupError`` for a name that does
not exist, ``ValueError`` for a bad argument), so existing handlers keep working.
Messages name what was asked, what exists, and the fix when there is one.
:class:`NameWarning` is a warning, not an error: the call went on, under the names
the message gives.
"""

__all__ = [
    'GluonParamsError',
    'PathError',
    'PatternError',
    'OptionError',
    'DeviceError',
    'TieError',
    'CheckpointError',
    'ShareError',
    'DependencyError',
    'ReplicaError',
    'DistributedError',
    'NameWarning',
]


class GluonParamsError(Exception):
    """Base class of every error gluonparams raises."""


class PathError(GluonParamsError, LookupError):
    """A structural name or path that does not exist in the network."""

    def __str__(self) -> str:
        # LookupError (as KeyError) would quote the message; keep it readable.
        return str(self.args[0]) if self.args else ''


class PatternError(GluonParamsError, ValueError):
    """A selection pattern that is malformed or, with ``strict=True``, matches nothing."""


class OptionError(GluonParamsError, ValueError):
    """An argument outside its allowed values; the message lists the allowed ones."""


class DeviceError(GluonParamsError, ValueError):
    """A device that is malformed or not available; the message lists what exists."""


class TieError(GluonParamsError, AssertionError):
    """Names expected to be one tied parameter are not, or ties differ from those expected."""


class CheckpointError(GluonParamsError):
    """A checkpoint that cannot be written, read, or loaded into the given network."""


class ShareError(GluonParamsError, ValueError):
    """Parameters that cannot be tied: a name missing on one side, or shapes or dtypes
    that differ."""


class DependencyError(GluonParamsError, ImportError):
    """A dependency is missing (an optional one a function needs) or installed in a version
    that cannot work (numpy 1.24 or newer, which MXNet cannot import with); the message
    says how to fix it."""


def check_option(name: str, value: object, allowed) -> None:
    """Raise :class:`OptionError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        choices = ', '.join(repr(a) for a in allowed)
        raise OptionError(f'{name}={value!r} is not supported; use one of {choices}')


class ReplicaError(GluonParamsError, AssertionError):
    """Device copies of one parameter differ; ``divergent`` lists each difference found."""

    def __init__(self, message: str, divergent: list) -> None:
        super().__init__(message)
        self.divergent = divergent


class DistributedError(GluonParamsError, RuntimeError):
    """A call over a distributed KVStore failed as a whole: another worker did not answer
    in time or failed, or the KVStore cannot carry gluonparams' exchange."""


class NameWarning(UserWarning):
    """A parameter was found by a name that is not Gluon's (an attribute path where the
    block renames its parameters); the message gives Gluon's name."""
