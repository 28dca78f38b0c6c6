#!/usr/bin/env bash
set -euo pipefail
sqlite3 users.db "SELECT id FROM users WHERE name = '$1'"
