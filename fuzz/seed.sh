#!/usr/bin/env bash
# Build the fuzz corpora from the committed seeds and the public samples under datasets/.
# Idempotent: existing corpus entries (what earlier runs found) are kept.
set -euo pipefail
cd "$(dirname "$0")"
public=../datasets/public
for t in decode_line read_input decompress redact_body redact_quarantine rule_file sigma_file; do
  mkdir -p "corpus/$t"
done
# Lines and documents of every envelope, plus a few Falco trace files and the audit2rbac log.
cp seeds/*.json seeds/*.log seeds/*.csv corpus/decode_line/
cp "$public"/falco-k8s-audit/trace_files/{create_clusterrolebinding,attach_pod,create_secret,fal_01_003}.json corpus/decode_line/ 2>/dev/null || true
# Whole files: everything above, and the compressed framings.
cp seeds/*.json seeds/*.log seeds/*.csv seeds/*.gz seeds/*.zst corpus/read_input/
cp "$public"/audit2rbac-demo/demo.log corpus/read_input/
cp seeds/*.gz seeds/*.zst corpus/decompress/
# Bodies for the redactor (first byte picks the resource) and whole events for quarantine.
cp seeds/redact/* corpus/redact_body/
cp seeds/secret-event.json seeds/tokenreview-event.json seeds/event.json corpus/redact_quarantine/
# Rule files: the whole pack; Sigma files: our own (SigmaHQ's rules are DRL-licensed, not copied).
cp ../rules/pack/*/*.yaml corpus/rule_file/
cp seeds/sigma/*.yml corpus/sigma_file/
echo "corpora ready under fuzz/corpus/"
