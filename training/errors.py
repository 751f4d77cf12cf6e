"""Errors a user can act on. Each message names the file (and line) and what to change."""


class ConfigError(ValueError):
    """A recipe or override that cannot be used; the message names the file (or "override") and the key."""


class DataError(ValueError):
    """Labeled data or a topic list that cannot be used as given."""


class ModelNotFoundError(FileNotFoundError):
    """No trained model where predict() looked."""


class TrainingError(RuntimeError):
    """A run that cannot start (nothing to resume) or whose model must not replace the saved one."""


def require(ok: bool, message: str) -> None:
    """A recipe value's check: ValueError(message) when not ok (config turns it into a ConfigError)."""
    if not ok:
        raise ValueError(message)
