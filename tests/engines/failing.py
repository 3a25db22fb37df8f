"""A stand-in for a diffusers pipeline that fails once, for the engine's error-mapping tests."""

from __future__ import annotations


class FailOnce:
    """Stands in for a pipeline: raises `error` on the next call, then behaves as the real one."""

    def __init__(self, pipe, error: Exception) -> None:
        self.__dict__["pipe"], self.__dict__["error"] = pipe, error

    def __call__(self, **kwargs):
        error, self.__dict__["error"] = self.__dict__["error"], None
        if error is not None:
            raise error
        return self.__dict__["pipe"](**kwargs)

    def __getattr__(self, name):
        return getattr(self.__dict__["pipe"], name)
