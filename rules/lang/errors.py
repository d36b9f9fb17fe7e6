"""Errors of the rule language: every one carries where it happened."""
from __future__ import annotations


class LangError(ValueError):
    """An error at ``pos`` (0-based offset) inside an expression; the loader maps it to file:line:col."""

    def __init__(self, message: str, pos: int = 0):
        super().__init__(message)
        self.message, self.pos = message, pos


class RuleError(ValueError):
    """A rule file error with its place: ``file:line:col: message`` (line and column 1-based)."""

    def __init__(self, file: str, line: int, col: int, message: str):
        super().__init__(f"{file}:{line}:{col}: {message}")
        self.file, self.line, self.col, self.message = file, line, col, message
