#!/usr/bin/env bash
# The test command (README.md): installs what a fresh machine lacks, builds, runs every test
# project (a test hung for 10 minutes fails rather than stalling CI), and prints "N passed, N failed"
# from the TRX results. Exits non-zero on any failure.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/install-deps.sh --browser || exit 1
results="$root/TestResults"
rm -rf "$results"

dotnet build AgentTrainer.sln --nologo -v quiet
status=$?
if ((status == 0)); then
  for project in tests/*/*.csproj; do
    name=$(basename "$project" .csproj)
    dotnet test "$project" --no-build --nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
      --blame-hang-timeout 10m --blame-hang-dump-type none "$@" || status=$?
  done
fi

passed=0 failed=0
shopt -s nullglob
trx_files=("$results"/*.trx)
for trx in "${trx_files[@]}"; do
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done
# A build failure or a crashed test host leaves no (or too few) results: count it as a failure.
if ((status != 0 && failed == 0)); then
  failed=1
fi
if ((${#trx_files[@]} == 0 && status == 0)); then
  echo "no test results were written" >&2
  failed=1
fi
echo "$passed passed, $failed failed"
((status == 0 && failed == 0))
