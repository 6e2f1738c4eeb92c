"""Secure aggregation (Bonawitz et al. 2017): exact sums under dropouts, the threshold, the
refusal to reveal both shares of a peer, what the server sees, tampering, the overflow guard."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from privaudit.errors import InputError, PrivauditError
from privaudit.federated.secagg import (
    ID_BYTES,
    KEY_BYTES,
    SHARE_BYTES,
    RandomSource,
    SecAggClient,
    SecAggParams,
    SecAggServer,
    SecureAggregationError,
    SecureSumResult,
    ShareDelivery,
    UnmaskingRequest,
    encode_fixed_point,
    ring_to_signed,
    secure_sum,
    shamir_combine,
    shamir_split,
)

ALPHA = 1e-3
"""Level of the statistical tests; the runs are seeded, so each test's outcome is fixed."""

CLIENTS = (0, 1, 2, 3, 4)
THRESHOLD = 3
LENGTH = 16
SCALE = 2.0**16


def make_inputs(
    clients: tuple[int, ...] = CLIENTS, length: int = LENGTH, seed: int = 0
) -> dict[int, npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return {client: rng.uniform(-1.0, 1.0, length) for client in clients}


def encoded_sum(
    inputs: dict[int, npt.NDArray[np.float64]], clients: tuple[int, ...], params: SecAggParams
) -> npt.NDArray[np.int64]:
    total = np.zeros(params.vector_length, dtype=np.int64)
    for client in clients:
        total += ring_to_signed(encode_fixed_point(inputs[client], params), params.bits)
    return total


def dropout_patterns(enough: bool) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every (drop_before_input, drop_after_input) over CLIENTS; ``enough``: at least t of the
    clients are left to answer the unmasking round, or else fewer."""
    patterns = []
    for fates in itertools.product("rab", repeat=len(CLIENTS)):
        before = tuple(c for c, fate in zip(CLIENTS, fates, strict=True) if fate == "b")
        after = tuple(c for c, fate in zip(CLIENTS, fates, strict=True) if fate == "a")
        if (fates.count("r") >= THRESHOLD) == enough:
            patterns.append((before, after))
    return patterns


def pattern_id(pattern: tuple[tuple[int, ...], tuple[int, ...]]) -> str:
    before, after = pattern
    return f"before{''.join(map(str, before)) or '-'}_after{''.join(map(str, after)) or '-'}"


def sum_with_dropouts(pattern: tuple[tuple[int, ...], tuple[int, ...]]) -> SecureSumResult:
    """``secure_sum`` of the default inputs, the clients of ``pattern`` dropping before and
    after sending their masked input."""
    before, after = pattern
    return secure_sum(
        make_inputs(),
        threshold=THRESHOLD,
        value_bound=1.0,
        drop_before_input=before,
        drop_after_input=after,
    )


def start_session(
    clients: int = 4, threshold: int = 3, length: int = 8, seed: int = 7
) -> tuple[SecAggParams, dict[int, SecAggClient], SecAggServer, dict[int, ShareDelivery]]:
    """Run rounds 0 and 1 with the object API; return the share deliveries of round 2."""
    params = SecAggParams(threshold, clients, length, value_bound=1.0)
    parties = {
        client: SecAggClient(client, params, random=RandomSource(seed, f"client/{client}"))
        for client in range(clients)
    }
    server = SecAggServer(params)
    for party in parties.values():
        server.receive_advertised_keys(party.advertise_keys())
    directory = server.key_directory()
    for party in parties.values():
        server.receive_shares(party.share_keys(directory))
    return params, parties, server, server.deliver_shares()


# --- exact sums -------------------------------------------------------------------------------


def test_sum_is_exact_when_every_client_stays() -> None:
    inputs = make_inputs()
    result = secure_sum(inputs, threshold=THRESHOLD, value_bound=1.0, scale=SCALE)
    plain = sum(inputs.values())
    assert result.survivors == CLIENTS
    assert result.dropped == ()
    assert result.total.dtype == np.float64
    assert np.array_equal(result.encoded_total, encoded_sum(inputs, CLIENTS, result.params))
    assert np.max(np.abs(result.total - plain)) <= len(CLIENTS) / SCALE


@pytest.mark.parametrize("pattern", dropout_patterns(enough=True), ids=pattern_id)
def test_sum_is_exact_over_survivors_for_every_dropout_pattern(
    pattern: tuple[tuple[int, ...], tuple[int, ...]],
) -> None:
    # Every way 5 clients can end up with ≥ t = 3 answering round 3: the others dropped before
    # sending their masked input (out of the sum) or after (in the sum, not answering).
    before, after = pattern
    inputs = make_inputs(seed=len(before) * 10 + len(after))
    result = secure_sum(
        inputs,
        threshold=THRESHOLD,
        value_bound=1.0,
        scale=SCALE,
        drop_before_input=before,
        drop_after_input=after,
    )
    survivors = tuple(c for c in CLIENTS if c not in before)
    assert result.survivors == survivors
    assert result.dropped == before
    assert result.responders == tuple(c for c in survivors if c not in after)
    assert np.array_equal(result.encoded_total, encoded_sum(inputs, survivors, result.params))
    plain = sum(inputs[c] for c in survivors)
    assert np.max(np.abs(result.total - plain)) <= len(survivors) / SCALE


def test_sum_keeps_the_shape_of_the_inputs() -> None:
    inputs = {c: v.reshape(4, 4) for c, v in make_inputs().items()}
    result = secure_sum(inputs, threshold=THRESHOLD, value_bound=1.0)
    assert result.total.shape == (4, 4)
    assert np.max(np.abs(result.total - sum(inputs.values()))) <= len(CLIENTS) / SCALE


def test_64_bit_ring_sums_values_too_large_for_32_bits() -> None:
    rng = np.random.default_rng(3)
    inputs = {c: rng.uniform(-1e6, 1e6, LENGTH) for c in CLIENTS}
    result = secure_sum(inputs, threshold=THRESHOLD, value_bound=1e6, bits=64)
    assert np.array_equal(result.encoded_total, encoded_sum(inputs, CLIENTS, result.params))
    assert result.server_view.masked_inputs[0].dtype == np.dtype("<u8")


# --- too few clients ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [p for p in dropout_patterns(enough=False) if len(CLIENTS) - len(p[0]) < THRESHOLD],
    ids=pattern_id,
)
def test_fewer_than_t_masked_inputs_raises(
    pattern: tuple[tuple[int, ...], tuple[int, ...]],
) -> None:
    with pytest.raises(SecureAggregationError, match=r"masked inputs arrived, fewer than"):
        sum_with_dropouts(pattern)


@pytest.mark.parametrize(
    "pattern",
    [p for p in dropout_patterns(enough=False) if len(CLIENTS) - len(p[0]) >= THRESHOLD],
    ids=pattern_id,
)
def test_fewer_than_t_unmasking_responses_raises(
    pattern: tuple[tuple[int, ...], tuple[int, ...]],
) -> None:
    with pytest.raises(SecureAggregationError, match=r"answered the unmasking request, fewer"):
        sum_with_dropouts(pattern)


def test_server_refuses_a_key_directory_with_fewer_than_t_clients() -> None:
    params = SecAggParams(3, 4, 8, value_bound=1.0)
    server = SecAggServer(params)
    for client in range(2):
        server.receive_advertised_keys(SecAggClient(client, params).advertise_keys())
    with pytest.raises(SecureAggregationError, match=r"only 2 clients advertised keys"):
        server.key_directory()


def test_server_aborts_without_a_sum_when_responses_are_too_few() -> None:
    _, parties, server, deliveries = start_session()
    for client, party in parties.items():
        server.receive_masked_input(party.masked_input(deliveries[client], np.zeros(8)))
    request = server.unmasking_request()
    for client in (0, 1):
        server.receive_unmasking(parties[client].unmask(request))
    with pytest.raises(SecureAggregationError, match=r"only 2 clients answered"):
        server.aggregate()


# --- what an honest client refuses --------------------------------------------------------------


def test_client_refuses_a_request_for_both_shares_of_one_peer() -> None:
    _, parties, server, deliveries = start_session()
    for client, party in parties.items():
        server.receive_masked_input(party.masked_input(deliveries[client], np.zeros(8)))
    # A server lying that client 3 both survived and dropped would get b_3 and s_3^SK.
    greedy = UnmaskingRequest(survivors=(0, 1, 2, 3), dropped=(3,))
    with pytest.raises(SecureAggregationError, match=r"reveal both .* client\(s\) \[3\]"):
        parties[0].unmask(greedy)


def test_client_refuses_a_second_request_contradicting_its_first_answer() -> None:
    _, parties, server, deliveries = start_session()
    for client, party in parties.items():
        server.receive_masked_input(party.masked_input(deliveries[client], np.zeros(8)))
    parties[0].unmask(UnmaskingRequest(survivors=(0, 1, 2, 3), dropped=()))
    # Having given the share of b_3, client 0 must not now give the share of s_3^SK.
    with pytest.raises(SecureAggregationError, match=r"reveal both .* client\(s\) \[3\]"):
        parties[0].unmask(UnmaskingRequest(survivors=(0, 1, 2), dropped=(3,)))


# --- what the server sees -----------------------------------------------------------------------


def low_and_top_bytes(vector: npt.NDArray[np.unsignedinteger]) -> list[npt.NDArray[np.int64]]:
    top_shift = 8 * vector.dtype.itemsize - 8
    values = vector.astype(np.uint64)
    return [
        np.bincount((values & np.uint64(0xFF)).astype(np.int64), minlength=256),
        np.bincount((values >> np.uint64(top_shift)).astype(np.int64), minlength=256),
    ]


def test_every_masked_input_looks_uniform() -> None:
    length = 20_000
    rng = np.random.default_rng(11)
    inputs = {c: np.clip(rng.normal(0.0, 0.1, length), -1.0, 1.0) for c in range(3)}
    result = secure_sum(inputs, threshold=2, value_bound=1.0, rng_seed=11)
    for client, masked in result.server_view.masked_inputs.items():
        for counts in low_and_top_bytes(masked):
            assert stats.chisquare(counts).pvalue > ALPHA, client
    # The same test sees through an unmasked update: its top byte is 0x00 or 0xFF.
    plain = encode_fixed_point(inputs[0], result.params)
    assert stats.chisquare(low_and_top_bytes(plain)[1]).pvalue < ALPHA


def test_masked_input_does_not_depend_on_the_update() -> None:
    length = 20_000
    others = make_inputs((1, 2), length, seed=5)
    quiet = np.zeros(length)
    loud = np.where(np.arange(length) % 2 == 0, 0.9, -0.9)  # as far from 0 as allowed
    seen = {}
    for name, update, seed in (("quiet", quiet, 21), ("loud", loud, 22)):
        result = secure_sum({0: update, **others}, threshold=2, value_bound=1.0, rng_seed=seed)
        seen[name] = result.server_view.masked_inputs[0]
    for quiet_counts, loud_counts in zip(
        low_and_top_bytes(seen["quiet"]), low_and_top_bytes(seen["loud"]), strict=True
    ):
        assert stats.chi2_contingency(np.stack([quiet_counts, loud_counts])).pvalue > ALPHA
    masked = ring_to_signed(seen["loud"], 32).astype(np.float64)
    assert stats.pearsonr(masked, loud).pvalue > ALPHA


def test_server_view_holds_what_each_client_sent_and_nothing_in_the_clear() -> None:
    inputs = make_inputs()
    result = secure_sum(inputs, threshold=THRESHOLD, value_bound=1.0, drop_before_input=(4,))
    view = result.server_view
    assert view.round_sets == (CLIENTS, CLIENTS, (0, 1, 2, 3), (0, 1, 2, 3))
    for message in view.share_messages:
        for share in message.shares:
            # nonce ‖ ChaCha20-Poly1305(share of b ‖ share of s^SK) ‖ tag
            assert len(share.ciphertext) == 12 + 2 * SHARE_BYTES + 16
    masked = view.masked_inputs[0]
    assert not masked.flags.writeable
    assert not np.array_equal(masked, encode_fixed_point(inputs[0], result.params))


def test_seeded_runs_repeat_bit_for_bit_and_seeds_differ() -> None:
    inputs = make_inputs()
    first, again, other = (
        secure_sum(inputs, threshold=THRESHOLD, value_bound=1.0, rng_seed=seed).server_view
        for seed in (1, 1, 2)
    )
    assert np.array_equal(first.masked_inputs[2], again.masked_inputs[2])
    assert not np.array_equal(first.masked_inputs[2], other.masked_inputs[2])


# --- tampering ----------------------------------------------------------------------------------


def test_tampered_share_fails_authentication_instead_of_giving_a_wrong_sum() -> None:
    _, parties, server, deliveries = start_session()
    delivery = deliveries[0]
    first = delivery.shares[0]
    flipped = bytearray(first.ciphertext)
    flipped[20] ^= 0x01
    tampered = replace(
        delivery, shares=(replace(first, ciphertext=bytes(flipped)), *delivery.shares[1:])
    )
    server.receive_masked_input(parties[0].masked_input(tampered, np.zeros(8)))
    for client in (1, 2, 3):
        server.receive_masked_input(parties[client].masked_input(deliveries[client], np.zeros(8)))
    request = server.unmasking_request()
    with pytest.raises(
        SecureAggregationError, match=rf"share from client {first.sender} fails authentication"
    ):
        parties[0].unmask(request)


def test_share_relabelled_as_from_another_sender_fails_authentication() -> None:
    _, parties, server, deliveries = start_session()
    delivery = deliveries[0]  # shares from 1, 2, 3
    relabelled = (
        replace(delivery.shares[0], ciphertext=delivery.shares[1].ciphertext),
        replace(delivery.shares[1], ciphertext=delivery.shares[0].ciphertext),
        delivery.shares[2],
    )
    server.receive_masked_input(
        parties[0].masked_input(replace(delivery, shares=relabelled), np.zeros(8))
    )
    for client in (1, 2, 3):
        server.receive_masked_input(parties[client].masked_input(deliveries[client], np.zeros(8)))
    with pytest.raises(SecureAggregationError, match=r"fails authentication"):
        parties[0].unmask(server.unmasking_request())


# --- the overflow guard and other refusals ------------------------------------------------------


def test_value_outside_the_declared_bound_is_refused_naming_the_bound() -> None:
    inputs = make_inputs()
    inputs[2] = inputs[2].copy()
    inputs[2][5] = 1.5
    with pytest.raises(InputError, match=r"inputs\[2\].*coordinate 5 is 1\.5.*value_bound ±1\b"):
        secure_sum(inputs, threshold=THRESHOLD, value_bound=1.0)


def test_nan_is_refused() -> None:
    inputs = make_inputs()
    inputs[0] = inputs[0].copy()
    inputs[0][0] = np.nan
    with pytest.raises(InputError, match=r"coordinate 0 is NaN"):
        secure_sum(inputs, threshold=THRESHOLD, value_bound=1.0)


def test_bound_that_could_overflow_the_ring_is_refused() -> None:
    # 5 clients · 2^14 · 2^16 = 5 · 2^30 ≥ 2^31: a sum of 5 could wrap around in 32 bits.
    with pytest.raises(InputError, match=r"value_bound: sums could overflow .* < 2\^31"):
        secure_sum(make_inputs(), threshold=THRESHOLD, value_bound=2.0**14)


def test_threshold_above_the_number_of_clients_is_refused() -> None:
    with pytest.raises(InputError, match=r"threshold: must be at most the number of clients"):
        secure_sum(make_inputs(), threshold=6, value_bound=1.0)


def test_server_refuses_more_clients_than_the_headroom_was_sized_for() -> None:
    params = SecAggParams(2, 2, 8, value_bound=1.0)
    server = SecAggServer(params)
    for client in range(2):
        server.receive_advertised_keys(SecAggClient(client, params).advertise_keys())
    with pytest.raises(SecureAggregationError, match=r"more than 2 clients"):
        server.receive_advertised_keys(SecAggClient(2, params).advertise_keys())


def test_rounds_out_of_order_are_refused() -> None:
    _, parties, server, _ = start_session()
    with pytest.raises(SecureAggregationError, match=r"rounds must run in order"):
        server.aggregate()
    with pytest.raises(SecureAggregationError, match=r"before it sent its masked input"):
        parties[0].unmask(UnmaskingRequest(survivors=(0, 1, 2, 3), dropped=()))


def test_protocol_errors_are_privaudit_errors_with_exit_code_1() -> None:
    assert issubclass(SecureAggregationError, PrivauditError)
    assert SecureAggregationError.exit_code == 1


# --- building blocks ----------------------------------------------------------------------------


def test_any_t_shamir_shares_rebuild_the_secret() -> None:
    secret = bytes(range(32))
    shares = shamir_split(secret, 3, range(5), RandomSource(4, "shamir"))
    for holders in itertools.combinations(range(5), 3):
        assert shamir_combine({h: shares[h] for h in holders}) == secret


def test_byte_counts_add_up() -> None:
    n, length = len(CLIENTS), LENGTH
    result = secure_sum(make_inputs(), threshold=THRESHOLD, value_bound=1.0)
    ciphertext = 12 + 2 * SHARE_BYTES + 16
    per_client = (
        ID_BYTES
        + 2 * KEY_BYTES  # round 0: id, c^PK, s^PK
        + ID_BYTES
        + (n - 1) * (2 * ID_BYTES + ciphertext)  # round 1: a share per peer
        + ID_BYTES
        + length * 4  # round 2: 32-bit ring elements
        + ID_BYTES
        + n * (ID_BYTES + SHARE_BYTES)  # round 3: a share per survivor
    )
    assert result.bytes_sent_per_client == dict.fromkeys(CLIENTS, per_client)
    assert result.bytes_server_received == n * per_client
    received = n * (ID_BYTES + 2 * KEY_BYTES) + (n - 1) * (2 * ID_BYTES + ciphertext) + n * ID_BYTES
    assert result.bytes_received_per_client == dict.fromkeys(CLIENTS, received)
    assert result.bytes_server_sent == n * received
