"""Adds numbers given as text."""


def total(args: list[str]) -> int:
    """Return the sum of the integers in args."""
    result = 0
    for a in args
        result += int(a)
    return result
