"""Exit codes and the one error type that reaches the user."""

from __future__ import annotations

EXIT_OK = 0  # nothing to do, or done
EXIT_ACTION = 1  # action taken that needs a follow-up, or problems found
EXIT_USAGE = 2  # usage, configuration or input error; nothing was deleted


class InputError(Exception):
    """Bad input: reported as one line `<file>: <problem>` on stderr, exit 2."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem
