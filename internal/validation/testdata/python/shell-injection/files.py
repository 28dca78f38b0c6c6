"""Directory listings."""
import os


def listing(directory: str) -> int:
    return os.system("ls -l " + directory)
