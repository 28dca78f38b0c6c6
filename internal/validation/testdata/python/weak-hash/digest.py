"""Password fingerprints."""
import hashlib


def digest(password: str) -> str:
    return hashlib.md5(password.encode()).hexdigest()
