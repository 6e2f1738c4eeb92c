"""The accounting engine: mechanisms → certified ε/δ (PLD and RDP side by side), privacy
profiles, calibration of noise or length for a target ε, training plans and a streaming
accountant for live runs. It knows nothing of policies, ledgers or training; import the
submodules (``privaudit.accounting.accountant``, ``.planner``, ...) directly.
"""
