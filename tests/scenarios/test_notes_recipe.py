"""The hospital-notes recipe (privaudit.scenarios.notes.recipe): the table by target ε, and the
ledger mechanisms of both deployments accounting to the target."""

from __future__ import annotations

import pytest

from privaudit.accounting.accountant import account
from privaudit.errors import InputError
from privaudit.mechanisms import DpSgd
from privaudit.scenarios.notes.recipe import NOTES_RECIPES, NotesRecipe, recipe_for


def test_recipe_table() -> None:
    assert recipe_for(1.0) is NOTES_RECIPES[1.0]
    assert recipe_for(0.5) is NOTES_RECIPES[1.0]
    assert recipe_for(5.0) is NOTES_RECIPES[3.0]
    assert recipe_for(8.0).rounds > recipe_for(3.0).rounds
    with pytest.raises(InputError, match="epsilon"):
        recipe_for(0.0)
    with pytest.raises(InputError, match="sampling_rate"):
        NotesRecipe(sampling_rate=0.0)


@pytest.mark.parametrize("epsilon", [1.0, 3.0])
def test_ledger_mechanisms_account_to_the_target(epsilon: float) -> None:
    recipe = recipe_for(epsilon)
    calibration = recipe.calibration(epsilon)
    sigma = calibration.value
    assert calibration.epsilon <= epsilon
    distributed = recipe.distributed_mechanism(sigma)
    local = recipe.local_mechanism(sigma)
    # No dropouts: the secure sum carries the whole σ, as central DP-SGD on the union would.
    assert (
        distributed.expand()
        == DpSgd(noise_multiplier=sigma, sampling_rate=1.0, steps=recipe.rounds).expand()
    )
    for mechanism in (distributed, local):
        assert account([mechanism], recipe.delta).epsilon <= epsilon * 1.001
