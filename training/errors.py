"""Errors a user can act on. Each message names the file (and line) and what to change."""


class DataError(ValueError):
    """Labeled data or a topic list that cannot be used as given."""


class ModelNotFoundError(FileNotFoundError):
    """No trained model where predict() looked."""


class TrainingError(RuntimeError):
    """A run that cannot start (nothing to resume) or whose model must not replace the saved one."""
