"""Time one secure-aggregation round (Bonawitz et al., CCS 2017) beside plain aggregation.

For each number of clients n (``--clients``, default 3, 10, 50, 100) every client holds a
``--params``-long float32 update drawn uniformly from [-1, 1]; ``privaudit.federated.secagg``'s
``secure_sum`` runs the four rounds (AdvertiseKeys, ShareKeys, MaskedInputCollection,
Unmasking) in this one process, clients and server exchanging only message objects, with
threshold t = ⌈2n/3⌉, value_bound 1, scale 2^16 and a 32-bit ring (4 bytes per parameter,
as many as a float32). Rows:

- ``secagg``: everyone stays;
- ``secagg, 10% drop after input``: ⌊n/10⌋ clients send their masked input, then vanish
  before unmasking (their inputs are still in the sum);
- ``secagg, 10% drop before input``: ⌊n/10⌋ clients share keys, then vanish before sending
  their masked input (the server rebuilds their masking keys and removes their pairwise masks
  from every survivor's input, ⌊n/10⌋ · |U3| extra PRG expansions);
- ``plain``: each client sends its float32 vector (4 bytes per parameter), the server adds them
  up in float32. Measured in the same run on the same vectors.

Columns: client time is the mean, over the clients that took part in every round, of the wall
time of their protocol calls (key generation, Shamir sharing, encryption, mask expansion,
decryption); server time is that of the server's calls (routing, Shamir reconstruction,
unmasking, the sum). Both are in-process compute: no network, no serialisation. Bytes are the
messages' raw sizes (ids, keys, ciphertexts, ring elements; no framing): per client the mean,
over the same clients, of what each sent and received; for the server the totals, dropped
clients' messages included. The broadcast of
the model, common to both, is not counted. ``max |err|`` compares the decoded secure sum with
the float64 sum of the survivors' updates (fixed-point quantum 2^-16 per client). Each row is
the median of ``--repeats`` runs; ratios divide a secagg row by the plain row of the same n.

Usage: ``python benchmarks/secagg.py [--clients 3,10,50,100] [--params 100000] [--repeats 3]
[--dropout 0.1]``. Progress goes to stderr, the tables to stdout. Not a test: nothing is
asserted and the exit code is 0 whatever is measured.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cryptography
import numpy as np
import numpy.typing as npt

from privaudit.federated.secagg import secure_sum

SCALE = 2.0**16
VALUE_BOUND = 1.0
BITS = 32


@dataclass(frozen=True)
class Row:
    label: str
    clients: int
    threshold: int
    dropped: int
    client_seconds: float
    server_seconds: float
    client_sent: float
    client_received: float
    server_received: int
    server_sent: int
    max_error: float


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def threshold_for(clients: int) -> int:
    return max(2, math.ceil(2 * clients / 3))


def make_updates(clients: int, params: int, seed: int) -> dict[int, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    return {
        client: rng.uniform(-VALUE_BOUND, VALUE_BOUND, params).astype(np.float32)
        for client in range(clients)
    }


def time_secagg(
    label: str,
    updates: dict[int, npt.NDArray[np.float32]],
    repeats: int,
    *,
    before: Sequence[int] = (),
    after: Sequence[int] = (),
) -> Row:
    clients = len(updates)
    threshold = threshold_for(clients)
    client_times, server_times, errors = [], [], []
    result = None
    for _ in range(repeats):
        result = secure_sum(
            updates,
            threshold=threshold,
            value_bound=VALUE_BOUND,
            scale=SCALE,
            bits=BITS,
            drop_before_input=before,
            drop_after_input=after,
        )
        client_times.append(
            statistics.mean(result.client_seconds[client] for client in result.responders)
        )
        server_times.append(result.server_seconds)
        plain = np.sum([updates[c].astype(np.float64) for c in result.survivors], axis=0)
        errors.append(float(np.max(np.abs(result.total - plain))))
    assert result is not None
    return Row(
        label,
        clients,
        threshold,
        len(before) + len(after),
        statistics.median(client_times),
        statistics.median(server_times),
        statistics.mean(result.bytes_sent_per_client[c] for c in result.responders),
        statistics.mean(result.bytes_received_per_client[c] for c in result.responders),
        result.bytes_server_received,
        result.bytes_server_sent,
        max(errors),
    )


def time_plain(updates: dict[int, npt.NDArray[np.float32]], repeats: int) -> Row:
    clients = len(updates)
    params = len(updates[0])
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        total = np.zeros(params, dtype=np.float32)
        for update in updates.values():
            np.add(total, update, out=total)
        seconds.append(time.perf_counter() - began)
    exact = np.sum([update.astype(np.float64) for update in updates.values()], axis=0)
    per_client = 4 * params
    return Row(
        "plain",
        clients,
        0,
        0,
        0.0,
        statistics.median(seconds),
        per_client,
        0,
        clients * per_client,
        0,
        float(np.max(np.abs(total - exact))),
    )


def megabytes(count: float) -> str:
    return f"{count / 1e6:10.3f}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:9.2f}x" if denominator else f"{'—':>10}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--clients",
        default="3,10,50,100",
        help="comma-separated client counts (default 3,10,50,100)",
    )
    parser.add_argument(
        "--params", type=int, default=100_000, help="parameters per update (default 100000)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per row (default 3)")
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.1,
        help="fraction of clients dropping in the dropout rows (default 0.1; 0 skips them)",
    )
    args = parser.parse_args(argv)
    try:
        counts = [int(part) for part in args.clients.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--clients takes comma-separated integers; found {args.clients!r}")
    if not counts or min(counts) < 2 or args.params < 1 or args.repeats < 1:
        parser.error("--clients must all be ≥ 2, --params and --repeats ≥ 1")
    if not 0 <= args.dropout < 1 / 3:
        parser.error("--dropout must be in [0, 1/3): t = ⌈2n/3⌉ clients must answer")

    rows: list[Row] = []
    for clients in counts:
        updates = make_updates(clients, args.params, seed=clients)
        threshold = threshold_for(clients)
        log(f"n = {clients}, t = {threshold}: plain")
        rows.append(time_plain(updates, args.repeats))
        log(f"n = {clients}, t = {threshold}: secagg ({args.repeats} runs)")
        rows.append(time_secagg("secagg", updates, args.repeats))
        dropping = math.floor(args.dropout * clients)
        if dropping:
            # The highest ids drop: the id order decides the signs of the masks, not the cost.
            gone = list(range(clients - dropping, clients))
            percent = f"{args.dropout:.0%}"
            log(f"n = {clients}: secagg, {dropping} drop after input")
            rows.append(
                time_secagg(
                    f"secagg, {percent} drop after input", updates, args.repeats, after=gone
                )
            )
            log(f"n = {clients}: secagg, {dropping} drop before input")
            rows.append(
                time_secagg(
                    f"secagg, {percent} drop before input", updates, args.repeats, before=gone
                )
            )

    print(
        f"secure aggregation (Bonawitz et al. 2017, semi-honest) vs plain aggregation:"
        f" {args.params:,} float32 parameters per client, t = ⌈2n/3⌉, {BITS}-bit ring,"
        f" scale 2^16, median of {args.repeats} runs"
    )
    print(
        f"python {platform.python_version()}, numpy {np.__version__},"
        f" cryptography {cryptography.__version__}, {platform.machine()}"
    )
    print()
    width = max(len(row.label) for row in rows)
    print(
        f"{'row':<{width}} {'n':>4} {'t':>4} {'drop':>4} {'client ms':>9} {'server ms':>9}"
        f" {'cl. sent MB':>11} {'cl. recv MB':>11} {'srv recv MB':>11} {'srv sent MB':>11}"
        f" {'max |err|':>9}"
    )
    for row in rows:
        print(
            f"{row.label:<{width}} {row.clients:>4} {row.threshold or '—':>4} {row.dropped:>4}"
            f" {1e3 * row.client_seconds:>9.2f} {1e3 * row.server_seconds:>9.2f}"
            f" {megabytes(row.client_sent):>11} {megabytes(row.client_received):>11}"
            f" {megabytes(row.server_received):>11} {megabytes(row.server_sent):>11}"
            f" {row.max_error:>9.2e}"
        )
    print()
    print("ratios, secagg ÷ plain of the same n (plain clients compute nothing and the plain")
    print("server sends nothing beyond the model, so those have no ratio):")
    print(f"{'row':<{width}} {'n':>4} {'client sent':>11} {'server recv':>11} {'server time':>11}")
    plain_rows = {row.clients: row for row in rows if row.label == "plain"}
    for row in rows:
        if row.label == "plain":
            continue
        plain = plain_rows[row.clients]
        print(
            f"{row.label:<{width}} {row.clients:>4} {ratio(row.client_sent, plain.client_sent):>11}"
            f" {ratio(row.server_received, plain.server_received):>11}"
            f" {ratio(row.server_seconds, plain.server_seconds):>11}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
