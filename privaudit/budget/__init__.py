"""Live budgets: a guard that refuses a release before it would overrun a dataset's policy limit,
the recorder that writes a live run's steps to the ledger in blocks, and its crash journal.

Used by training loops that are not privaudit's own (the framework adapters in
``privaudit.integrations``); depends only on the domain and the accountant.
"""
