#!/usr/bin/env bash
# Regenerates the example reports committed under reports/examples/ (run from anywhere, with
# privaudit installed: pip install -e ".[dev]"). Each example is the full output folder of the
# command that made it: policy, ledger, run records, check result, report.html and report.pdf.
set -euo pipefail
cd "$(dirname "$0")/../.."
if command -v privaudit >/dev/null; then run=(privaudit); else run=(python3 -m privaudit); fi

# The bundled digits data: plan, three DP-SGD runs, check, report (privaudit demo).
"${run[@]}" demo --out reports/examples/demo --seed 0

# The federated scenarios on the real data in ../shared/data (about 10 minutes together).
data="${PRIVAUDIT_DATA:-../shared/data}"
for name in bank-fraud hospital-notes mnist-cross-device mnist-noniid; do
    "${run[@]}" scenario "$name" --data-dir "$data" --out "reports/examples/$name" --seed 0
done
