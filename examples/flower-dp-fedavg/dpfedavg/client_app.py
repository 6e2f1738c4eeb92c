"""The ClientApp: local SGD on this node's digits; Flower's ``fixedclipping_mod`` clips the
update to the norm the server's DP strategy sends before it leaves the node."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod

from dpfedavg import task

app = ClientApp(mods=[fixedclipping_mod])


@app.train()
def train(message: Message, context: Context) -> Message:
    partition = int(context.node_config["partition-id"])
    x, y = task.partition(partition, int(context.node_config["num-partitions"]))
    params = message.content["arrays"].to_numpy_ndarrays()
    server_round = int(message.content["config"]["server-round"])
    updated, loss = task.local_sgd(
        params,
        x,
        y,
        epochs=int(context.run_config["local-epochs"]),
        learning_rate=float(context.run_config["learning-rate"]),
        seed=1000 * server_round + partition,
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord(updated),
            "metrics": MetricRecord({"num-examples": len(x), "train-loss": loss}),
        }
    )
    return Message(content, reply_to=message)
