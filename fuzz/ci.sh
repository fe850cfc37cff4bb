#!/usr/bin/env bash
# Run every fuzz target for at most FUZZ_SECONDS (default 30) from the seed corpora; exit non-zero
# on the first crash, hang or leak. Needs cargo-fuzz (installed here if missing) and builds with
# RUSTC_BOOTSTRAP=1 on the stable toolchain.
#
# Cost, measured on the 2-core machine: building the targets from cold takes about 13 CPU-minutes
# (794 s user), installing cargo-fuzz a few more, then 30 s per target. That does not fit in
# .ci/run's 60 minutes beside the workspace build, so .ci/run runs this only with
# KUBETRAIL_CI_FUZZ=1.
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-30}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
./seed.sh
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
for t in decode_line read_input decompress redact_body redact_quarantine; do
  echo "== fuzz $t (${secs} s)"
  cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
done
