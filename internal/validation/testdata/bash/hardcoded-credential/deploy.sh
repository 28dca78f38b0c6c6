#!/usr/bin/env bash
set -euo pipefail
export DB_PASSWORD="Zr8qTw3vLp0xQ"
echo "deploying as calc"
