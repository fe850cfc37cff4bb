#!/usr/bin/env bash
# Run every fuzz target for at most FUZZ_SECONDS (default 30) from the seed corpora; exit non-zero
# on the first crash, hang or leak. Needs cargo-fuzz (installed here if missing) and builds with
# RUSTC_BOOTSTRAP=1 on the stable toolchain.
#
# Cost, measured on the 2-core machine: building the targets from cold takes about 13 CPU-minutes
# (794 s user), installing cargo-fuzz a few more, then 30 s per target. With CARGO_TARGET_DIR
# set (as .ci/run sets it), the targets build under $CARGO_TARGET_DIR/fuzz and stay warm.
set -euo pipefail
cd "$(dirname "$0")"
secs="${FUZZ_SECONDS:-30}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
./seed.sh
export RUSTC_BOOTSTRAP=1
target_args=()
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  target_args=(--target-dir "$CARGO_TARGET_DIR/fuzz")
fi
cargo fuzz build -O "${target_args[@]}"
for t in decode_line read_input decompress redact_body redact_quarantine rule_file sigma_file; do
  echo "== fuzz $t (${secs} s)"
  cargo fuzz run -O "${target_args[@]}" "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048
done
