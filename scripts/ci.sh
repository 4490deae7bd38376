#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole suite in every mode, as CI runs it (.ci/run -> make ci -> this):
#   1. make check               unit, integration, fuzz-corpus replay, VM test
#   2. make check SANITIZE=1    the same built with ASan+UBSan
#   3. valgrind                 the integration tests with quiesced under valgrind memcheck
#   4. fuzz                     every libFuzzer target for FUZZ_SECONDS (15) from its corpus
# Each stage runs even if an earlier one failed. The last line counts test programs
# over all stages: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
log=$(mktemp /tmp/quiesce-ci.XXXXXX)
trap 'rm -f "$log"' EXIT
passed=0
failed=0
stages_failed=""
times=""

# stage NAME COMMAND...: run it, echo its output, and add its prove tally.
stage() {
	name=$1
	shift
	echo "=== ci: $name: $*"
	: > "$log"
	t0=$(date +%s)
	"$@" 2>&1 | tee "$log"
	took=$(( $(date +%s) - t0 ))
	files=$(sed -n 's/^Files=\([0-9]*\),.*/\1/p' "$log" | tail -n 1)
	bad=$(sed -n 's/^Failed \([0-9]*\)\/[0-9]* test programs.*/\1/p' "$log" | tail -n 1)
	if ! grep -q '^Result: PASS' "$log"; then
		stages_failed="$stages_failed $name"
		# A stage that broke before prove ran counts as one failed program.
		[ -z "$files" ] && files=1 && bad=1
		[ -z "$bad" ] && bad=1
	fi
	files=${files:-0}
	bad=${bad:-0}
	passed=$((passed + files - bad))
	failed=$((failed + bad))
	times="$times $name ${took}s,"
	echo "=== ci: $name: $((files - bad)) passed, $bad failed, ${took} s"
}

stage check make -j"$jobs" check
stage sanitize make -j"$jobs" check SANITIZE=1
stage valgrind env QUIESCE_VALGRIND=1 TESTS="$(ls tests/integration/*.py | tr '\n' ' ')" \
	make -j"$jobs" check
stage fuzz prove -v tests/fuzz/ci-smoke

[ -n "$stages_failed" ] && echo "ci: failed stages:$stages_failed"
echo "ci: stage times:${times%,}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
