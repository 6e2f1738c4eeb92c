"""A Flower app with client-level DP-FedAvg, accounted and guarded by privaudit."""
