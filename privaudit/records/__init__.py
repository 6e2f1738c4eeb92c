"""Evidence files that runs leave behind beside the ledger: run records (utility, privacy,
per-epoch and per-round history) and audit records (empirical ε lower bounds, direct checks).

Training and audits write them; the report reads them. Both are strict, versioned JSON whose
schemas only grow, written and read by :mod:`privaudit.records.io`. Import the submodules
(``privaudit.records.run``, ``privaudit.records.audit``).
"""
