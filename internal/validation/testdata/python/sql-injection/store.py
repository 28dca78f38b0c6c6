"""User lookups."""
import sqlite3


def find(conn: sqlite3.Connection, name: str) -> list[tuple[int]]:
    cur = conn.cursor()
    cur.execute(f"SELECT id FROM users WHERE name = '{name}'")
    return cur.fetchall()
