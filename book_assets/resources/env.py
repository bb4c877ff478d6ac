"""Env-keyed resource values: an ``EnvVar`` where the variable is set, the default otherwise."""
from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar


def env_value(name: str, default: Any, empty_is_value: bool = False) -> Any:
    """``EnvVar(name)`` (typed like ``default``) when ``name`` is set, else ``default``.

    A variable set to the empty string counts as unset, except with ``empty_is_value`` (a string
    setting where ``""`` means something, e.g. "no authors dump"): then it is the value ``""``.
    """
    if name in os.environ and os.environ[name] == "" and empty_is_value:
        return ""
    if os.environ.get(name, "") == "":
        return default
    if isinstance(default, bool):
        return EnvVar(name).get_value().lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return EnvVar.int(name)
    if isinstance(default, float):  # Dagster has no float EnvVar: the value itself, checked here
        try:
            return float(os.environ[name])
        except ValueError:
            raise ValueError(f"{name}={os.environ[name]!r} is not a number") from None
    return EnvVar(name)
