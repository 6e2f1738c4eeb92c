"""The ServerApp: Flower's FedAvg with client-side fixed clipping and server-side noise, every
round admitted by privaudit's budget guard and written to the privacy ledger."""

from __future__ import annotations

import json
from pathlib import Path

from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg

from dpfedavg import task
from privaudit.integrations.flower import attach

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    clients, fewest = int(config["num-clients"]), int(config["min-replies"])
    # Every client online is asked each round; a round starts with as few as min-replies
    # online (a lost client must not stall the federation) and the noise stays sized for all.
    fedavg = FedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=fewest,
        min_available_nodes=fewest,
    )
    dp = DifferentialPrivacyClientSideFixedClipping(
        fedavg,
        noise_multiplier=float(config["noise-multiplier"]),
        clipping_norm=float(config["clipping-norm"]),
        num_sampled_clients=clients,
    )
    strategy = attach(
        dp,
        ledger=str(config["ledger"]),
        dataset=str(config["dataset"]),
        run=str(config["run-name"]),
        policy=str(config["policy"]) or None,
        min_replies=fewest,
    )
    x_test, y_test = task.held_out()

    def central(round_: int, arrays: ArrayRecord) -> MetricRecord:
        return MetricRecord({"accuracy": task.accuracy(arrays.to_numpy_ndarrays(), x_test, y_test)})

    result = strategy.start(
        grid,
        ArrayRecord(task.initial()),
        num_rounds=int(config["num-server-rounds"]),
        timeout=float(config["round-timeout"]),
        train_config=None,
        evaluate_fn=central,
    )
    summary = str(config["summary"])
    if summary:
        accuracy = {
            int(r): float(m["accuracy"]) for r, m in result.evaluate_metrics_serverapp.items()
        }
        outcome = {
            "stopped": strategy.stopped,
            "last_round": strategy.last_round,
            "accuracy": accuracy,
        }
        Path(summary).write_text(json.dumps(outcome))
