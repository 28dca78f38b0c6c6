#!/usr/bin/env bash
set -euo pipefail
eval "ls -l $1"
