"""Typed errors. Every message names the object (file, layer, field), what was expected, what was seen, and the fix."""

from __future__ import annotations


class NetslimError(Exception):
    """Base class of every error netslim raises on purpose."""


class ConfigError(NetslimError, ValueError):
    """A configuration field has an invalid value. The message names the field."""


class DataError(NetslimError, ValueError):
    """A data file or array is missing, truncated, corrupt or of the wrong shape. The message names the file."""


class ModelLoadError(NetslimError):
    """A model file or zoo name could not be loaded."""


class UnsupportedLayerError(NetslimError):
    """A layer cannot be handled by the requested transform. The message names the layer."""


class TraceError(NetslimError):
    """The model could not be captured as a graph."""


class ExportParityError(NetslimError):
    """An exported model disagrees with its torch source beyond tolerance."""


class BudgetNotMetError(NetslimError):
    """No candidate meets the requested budget."""


class TrainingDivergedError(NetslimError):
    """Training produced a non-finite loss; the message names the epoch, step and learning rate."""


class OutputError(NetslimError):
    """An output path cannot be written safely (it holds files netslim did not write, it is the input, another run
    is writing it, or it is not writable). The message names the path and the fix."""


class InternalError(NetslimError):
    """An unexpected failure inside netslim (a bug); the message names the log file with the details."""
