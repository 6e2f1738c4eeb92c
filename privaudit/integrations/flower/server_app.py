"""The privaudit ServerApp: distributed DP-SGD over secure aggregation on Flower's Deployment
Engine, each round admitted by the budget guard before it starts and written to the ledger as
soon as its sum is revealed.

Flower starts it (``flwr-serverapp``) on the SuperLink's machine with ``run_config["spec"]``
naming the run spec (:mod:`privaudit.integrations.flower.spec`). A round is privaudit's
:class:`~privaudit.federated.strategies.DistributedDpSgdStrategy` with its aggregator replaced
by the four message rounds of Bonawitz et al. (2017, Fig. 4) between this process and the
silos' SuperNodes: the server learns the sum of the survivors' noisy shares and who survived,
nothing else. A silo that stops answering (its process killed, its machine gone) drops out of
the round at the stage it missed; the protocol recovers while ``threshold`` silos remain, and
the ledger records the survivors the protocol reports, so the noise actually in the sum,
σ·√(k/m) (``DistributedGaussian``), is what is charged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from privaudit.errors import PrivauditError
from privaudit.federated.arrays import frozen
from privaudit.federated.evaluation import evaluation_data, metrics
from privaudit.federated.messages import AggregateMessage
from privaudit.federated.results import LedgerItem
from privaudit.federated.secagg.encoding import decode_fixed_point
from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.params import SecAggParams
from privaudit.federated.secagg.server import SecAggServer
from privaudit.federated.server import Server
from privaudit.federated.strategies import DistributedDpSgdStrategy
from privaudit.integrations.flower.admission import Admission
from privaudit.integrations.flower.records import (
    array_record,
    config_of,
    delivery_record,
    directory_record,
    integer,
    keys_of,
    masked_of,
    model_text,
    params_record,
    request_record,
    response_of,
    share_keys_of,
)
from privaudit.integrations.flower.spec import RunSpec, load_arrays, read_spec
from privaudit.mechanisms import DistributedGaussian, Mechanism

app = ServerApp()

POLL_SECONDS = 0.2
"""How often the server asks the SuperLink for answers (Flower's own helper waits 3 s)."""


@app.main()
def main(grid: Grid, context: Context) -> None:
    spec = read_spec(Path(str(context.run_config["spec"])))
    Federation(grid, spec).run()


class Federation:
    """One run: discover the silos, then admit, run, account and record round after round."""

    def __init__(self, grid: Grid, spec: RunSpec) -> None:
        self.grid = grid
        self.spec = spec
        self.folder = spec.path
        self.started = time.perf_counter()
        self.rounds: list[dict[str, Any]] = []
        self.status = "completed"
        self.reason = ""
        config = spec.config
        streams = np.random.SeedSequence(config.seed).spawn(3 + len(spec.silos))
        self.model = config.model.build(spec.n_features, max(spec.n_classes, 2))
        (params,) = load_arrays(self.folder / "initial.npz", "params")
        partitions = {s.index: s.name for s in spec.silos}
        sizes = {s.index: s.examples for s in spec.silos}
        strategy = DistributedDpSgdStrategy(
            config, partitions, sizes, np.random.Generator(np.random.PCG64(streams[0]))
        )
        self.server = Server(strategy, self.model, params, keep_messages=False)
        self.test: tuple[Any, Any] | None = None
        if (self.folder / "test.npz").exists():
            x, y = load_arrays(self.folder / "test.npz", "x", "y")
            self.test = evaluation_data(self.model, x.astype(params.dtype), y)
        ledger = spec.ledger
        self.guard = (
            None
            if ledger is None
            else Admission(
                ledger.path,
                ledger.dataset,
                ledger.run,
                policy=ledger.policy,
                epsilon_limit=ledger.epsilon_limit,
                privacy_unit=ledger.privacy_unit,
            )
        )
        self._nodes: dict[int, int] = {}

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        try:
            nodes = self._nodes = self._discover()
            for r in range(1, self.spec.config.rounds + 1):
                if not self._round(r, nodes):
                    break
        except PrivauditError as error:
            self.status, self.reason = "failed", str(error)
            raise
        finally:
            self._finish()

    def _discover(self) -> dict[int, int]:
        """Node id → silo index, from each node's answer to ``query.hello``; waits until every
        silo of the spec has joined (or the join timeout has passed)."""
        wanted = {s.index: s for s in self.spec.silos}
        deadline = time.time() + self.spec.join_timeout
        nodes: dict[int, int] = {}
        while time.time() < deadline:
            fresh = [n for n in self.grid.get_node_ids() if n not in nodes]
            if fresh:
                for reply in self._exchange("query.hello", {n: RecordDict() for n in fresh}, 30):
                    silo = config_of(reply.content["silo"], "silo")
                    index = integer(silo, "partition")
                    known = wanted.get(index)
                    if known is None or integer(silo, "examples") != known.examples:
                        self._say(f"node {reply.metadata.src_node_id}: not a silo of this run")
                        continue
                    nodes[reply.metadata.src_node_id] = index
            if set(nodes.values()) == set(wanted):
                break
            time.sleep(1.0)
        self._say(f"{len(nodes)} of {len(wanted)} silos joined", joined=len(nodes))
        return nodes

    def _round(self, r: int, nodes: Mapping[int, int]) -> bool:
        """Run round ``r``; False when the run must stop before it."""
        spec = self.spec
        online = sorted(set(self.grid.get_node_ids()) & set(nodes))
        silos = sorted(nodes[n] for n in online)
        threshold = spec.secagg.threshold
        if len(silos) < threshold:
            return self._stop(
                "quorum",
                f"round {r}: {len(silos)} silos online, fewer than the secure sum's threshold"
                f" {threshold}; nothing more is released",
            )
        messages = self.server.configure_fit(r, silos)
        asked = sorted(messages)
        refusal = self._refusal(r, len(asked))
        if refusal is not None:
            return self._stop("budget", refusal)
        node_of = {index: node for node, index in nodes.items() if index in messages}
        self._say(f"round {r}: {len(asked)} silos asked", round=r, stage="share")
        began = time.perf_counter()
        total, survivors = self._secure_sum(r, asked, node_of, messages[asked[0]].params)
        if total is None:
            self._record(r, asked, (), began, None)
            self._say(f"round {r}: secure sum aborted; nothing revealed", round=r)
            return True
        self.server.receive(
            AggregateMessage(
                round=r,
                total=frozen(total.astype(self.server.params.dtype)),
                survivors=survivors,
                planned=tuple(asked),
                reveals_inputs=False,
            )
        )
        outcome = self.server.aggregate_fit(r)
        # Whether the next round would still fit is decided now, so the last entry that fits
        # says that the run ends with it (entries are never edited afterwards).
        ahead = None
        if r < spec.config.rounds:
            pending = [item.mechanism for item in outcome.ledger]
            ahead = self._refusal(r + 1, len(asked), pending)
        self._commit(r, outcome.ledger, asked, survivors, ahead)
        evaluated = None
        if self.test is not None and (r % spec.evaluate_every == 0 or r == spec.config.rounds):
            evaluated = metrics(self.model, self.server.params, *self.test)
        self._record(r, asked, survivors, began, evaluated, outcome.noise_multiplier)
        if ahead is not None:
            return self._stop("budget", ahead)
        return True

    def _refusal(self, r: int, asked: int, pending: Iterable[Mechanism] = ()) -> str | None:
        """Why round ``r`` may not start, or None: it must fit with the worst noise it can end
        with, only ``threshold`` of the ``asked`` silos surviving."""
        if self.guard is None:
            return None
        config = self.spec.config
        worst = DistributedGaussian(
            noise_multiplier=config.noise_multiplier,
            clients=asked,
            survivors=min(self.spec.secagg.threshold, asked),
            sampling_rate=config.sampling_rate,
            steps=1,
        )
        return self.guard.refusal(worst, f"round {r}", pending)

    # -- secure aggregation over Flower messages -------------------------------------------

    def _secure_sum(
        self, r: int, asked: list[int], node_of: Mapping[int, int], params: Any
    ) -> tuple[np.ndarray[Any, Any] | None, tuple[int, ...]]:
        """The four rounds of Fig. 4 with the asked silos; (sum, U3), or (None, ()) when fewer
        than ``threshold`` silos remained at some stage (nothing is revealed)."""
        spec = self.spec
        secagg = SecAggParams(
            threshold=min(spec.secagg.threshold, len(asked)),
            num_clients=len(asked),
            vector_length=int(np.asarray(params).size),
            value_bound=spec.secagg.value_bound,
            bits=spec.secagg.bits,
        )
        config = self._stage_config(r, len(asked), secagg)
        server = SecAggServer(secagg)
        timeout = spec.stage_timeout
        try:
            model = array_record(np.asarray(params))
            first = {node_of[s]: RecordDict({"config": config, "params": model}) for s in asked}
            for reply in self._exchange("train.share", first, timeout):
                server.receive_advertised_keys(keys_of(config_of(reply.content["keys"], "keys")))
            directory = directory_record(server.key_directory())
            u1 = sorted(k.client_id for k in server.view.advertised)
            self._say(f"round {r}: keys from {len(u1)}", round=r, stage="keys")
            second = {
                node_of[s]: RecordDict({"config": config, "directory": directory}) for s in u1
            }
            for reply in self._exchange("train.keys", second, timeout):
                server.receive_shares(share_keys_of(config_of(reply.content["shares"], "shares")))
            deliveries = server.deliver_shares()
            self._say(f"round {r}: shares from {len(deliveries)}", round=r, stage="masked")
            third = {
                node_of[s]: RecordDict({"config": config, "delivery": delivery_record(d)})
                for s, d in deliveries.items()
            }
            silo_of = {node: silo for silo, node in node_of.items()}
            for reply in self._exchange("train.masked", third, timeout):
                silo = silo_of[reply.metadata.src_node_id]
                server.receive_masked_input(masked_of(silo, reply.content["masked"]))
            request = server.unmasking_request()
            self._say(
                f"round {r}: masked inputs from {len(request.survivors)}", round=r, stage="unmask"
            )
            fourth = {
                node_of[s]: RecordDict({"config": config, "request": request_record(request)})
                for s in request.survivors
            }
            for reply in self._exchange("train.unmask", fourth, timeout):
                server.receive_unmasking(response_of(config_of(reply.content["response"], "r")))
            ring_total = server.aggregate()
        except SecureAggregationError as error:
            self._say(f"round {r}: {error}", round=r)
            return None, ()
        total = decode_fixed_point(ring_total, secagg).reshape(np.asarray(params).shape)
        return total, tuple(request.survivors)

    def _stage_config(self, r: int, participants: int, secagg: SecAggParams) -> ConfigRecord:
        spec, config = self.spec, self.spec.config
        record = params_record(secagg)
        values: dict[str, Any] = {
            "round": r,
            "participants": participants,
            "sampling_rate": config.sampling_rate,
            "clip_norm": config.clip_norm,
            "noise_multiplier": config.noise_multiplier,
            "model": model_text(config.model),
            "n_classes": max(spec.n_classes, 2),
            "silos": len(spec.silos),
        }
        if spec.seed_streams and config.seed is not None:
            values["seed"] = int(config.seed)
        for key, value in values.items():
            record[key] = value
        return record

    def _exchange(
        self, kind: str, contents: Mapping[int, RecordDict], timeout: float
    ) -> list[Message]:
        """Send ``contents`` (node id → records) as ``kind`` messages and collect the answers
        that arrive within ``timeout`` seconds; an error reply counts as no answer."""
        if not contents:
            return []
        messages = []
        for node, content in contents.items():
            if kind.startswith("train."):
                # Every silo's copy carries its own client id: its index in the run.
                silo = self._silo_of_node(node)
                content = _with_client_id(content, silo)
            messages.append(Message(content, node, kind, ttl=timeout))
        pending = set(self.grid.push_messages(messages))
        replies: list[Message] = []
        deadline = time.time() + timeout
        while pending and time.time() < deadline:
            for reply in self.grid.pull_messages(pending):
                pending.discard(reply.metadata.reply_to_message_id)
                if reply.has_error():
                    self._say(f"node {reply.metadata.src_node_id}: {reply.error.reason}")
                    continue
                replies.append(reply)
            if pending:
                time.sleep(POLL_SECONDS)
        return replies

    def _silo_of_node(self, node: int) -> int:
        return self._nodes[node]

    # -- ledger, records, progress ---------------------------------------------------------

    def _commit(
        self,
        r: int,
        items: Iterable[LedgerItem],
        asked: list[int],
        survivors: tuple[int, ...],
        ahead: str | None,
    ) -> None:
        from privaudit.ledger import append_entry

        ledger = self.spec.ledger
        if ledger is None:
            return
        names = {s.index: s.name for s in self.spec.silos}
        for item in items:
            append_entry(
                ledger.path,
                dataset=ledger.dataset,
                mechanism=item.mechanism,
                partition=item.partition,
                privacy_unit=ledger.privacy_unit,
                run=ledger.run,
                meta={
                    **dict(item.meta),
                    "engine": "flower",
                    "asked": [names[s] for s in asked],
                    "survived": [names[s] for s in survivors],
                    "planned_rounds": self.spec.config.rounds,
                    **(
                        {}
                        if ahead is None
                        else {"stopped": "budget", "last_round_that_fits": r, "reason": ahead}
                    ),
                },
            )

    def _record(
        self,
        r: int,
        asked: list[int],
        survivors: tuple[int, ...],
        began: float,
        evaluated: Mapping[str, float] | None,
        noise_multiplier: float = 0.0,
    ) -> None:
        record = {
            "round": r,
            "selected": list(asked),
            "survivors": list(survivors),
            "dropped": sorted(set(asked) - set(survivors)),
            "noise_multiplier": noise_multiplier,
            "metrics": None if evaluated is None else {k: float(v) for k, v in evaluated.items()},
            "round_seconds": time.perf_counter() - began,
            "seconds": time.perf_counter() - self.started,
        }
        self.rounds.append(record)
        line = f"round {r}: {len(survivors)} of {len(asked)} silos in the sum"
        if evaluated is not None:
            shown = "roc_auc" if "roc_auc" in evaluated and self.spec.n_classes == 2 else "accuracy"
            line += f"; test {shown} {float(evaluated[shown]):.4f}"
        self._say(line, round=r, stage="done", record=record)

    def _stop(self, status: str, reason: str) -> bool:
        self.status, self.reason = status, reason
        self._say(f"stopped: {reason}", stop=status)
        return False

    def _say(self, line: str, **fields: Any) -> None:
        with (self.folder / "progress.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps({"line": line, **fields}, allow_nan=False) + "\n")

    def _finish(self) -> None:
        np.savez(self.folder / "result.npz", params=np.asarray(self.server.params))
        summary = {
            "status": self.status,
            "reason": self.reason,
            "rounds": self.rounds,
            "wall_seconds": time.perf_counter() - self.started,
        }
        partial = self.folder / "rounds.json.part"
        partial.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        partial.replace(self.folder / "rounds.json")


def _with_client_id(content: RecordDict, silo: int) -> RecordDict:
    config = config_of(content["config"], "config")
    personal = ConfigRecord(dict(config))
    personal["client_id"] = silo
    copy = RecordDict({k: v for k, v in content.items() if k != "config"})
    copy["config"] = personal
    return copy
