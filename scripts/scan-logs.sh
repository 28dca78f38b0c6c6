#!/usr/bin/env bash
# Scans every log the tests kept (QLP_TEST_LOG_DIR, see internal/logx/
# logtest) for secrets: the canary secrets the tests configure
# (internal/logx/logtest/canaries.txt), QLP API keys, age identities, bearer
# credentials, and the password of the test database. Prints each finding
# with the secret masked and exits 1 when there is any.
#
#   scripts/scan-logs.sh DIR
set -euo pipefail
dir=${1:?usage: scripts/scan-logs.sh DIR}
here="$(cd "$(dirname "$0")/.." && pwd)"
canaries="$here/internal/logx/logtest/canaries.txt"

patterns=()
while read -r c; do
	[ -n "$c" ] && patterns+=("$c")
done <"$canaries"
patterns+=('qlp_[A-Za-z0-9_-]{43}' 'AGE-SECRET-KEY-1[0-9A-Z]{20,}' 'Bearer [A-Za-z0-9._~+/=-]{16,}')
# The test database's password, when its URL carries one.
if [ -n "${QLP_TEST_POSTGRES_URL:-}" ]; then
	pw=$(printf '%s' "$QLP_TEST_POSTGRES_URL" | sed -nE 's#^[a-z]+://[^:/@]+:([^@]+)@.*#\1#p')
	[ -n "$pw" ] && [ "${#pw}" -ge 6 ] && patterns+=("$pw")
fi

files=$(find "$dir" -type f | wc -l)
found=0
for p in "${patterns[@]}"; do
	if hits=$(grep -rnoE -- "$p" "$dir" 2>/dev/null); then
		found=1
		# Never print the secret itself: its first characters and the place.
		printf '%s\n' "$hits" | head -20 | awk -F: '{printf "%s:%s: %s… (masked)\n", $1, $2, substr($3, 1, 6)}' >&2
	fi
done
if [ "$found" = 1 ]; then
	echo "scan-logs: secrets found in the logs under $dir (see above)" >&2
	exit 1
fi
echo "scan-logs: $files log file(s), no secret found" >&2
