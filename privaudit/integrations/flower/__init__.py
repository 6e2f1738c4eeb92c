"""privaudit on Flower (``flwr``, the ``[flower]`` extra).

Two ways in:

- :func:`attach` (:mod:`~privaudit.integrations.flower.strategy`): around a Flower app's own
  DP strategy (``DifferentialPrivacy*FixedClipping`` over FedAvg), each round admitted by the
  budget guard and written to the ledger with the clients that contributed;
- ``privaudit scenario NAME --engine flower``: privaudit's own Flower app, distributed DP-SGD
  over secure aggregation on Flower's Deployment Engine:
  :mod:`~privaudit.integrations.flower.server_app`,
  :mod:`~privaudit.integrations.flower.client_app` (Bonawitz et al.'s protocol over Flower
  messages), :mod:`~privaudit.integrations.flower.records` (privaudit's messages as Flower
  records), :mod:`~privaudit.integrations.flower.spec` (the run spec the ServerApp reads),
  :mod:`~privaudit.integrations.flower.processes` (SuperLink and SuperNodes as processes) and
  :mod:`~privaudit.integrations.flower.engine` (:class:`FlowerEngine`, a scenario's deployment
  on Flower).

:mod:`~privaudit.integrations.flower.admission` is the budget guard both use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privaudit.integrations.flower.strategy import GuardedStrategy, attach

__all__ = ["GuardedStrategy", "attach"]


def __getattr__(name: str) -> Any:
    # Flower loads only when the strategy wrapper is asked for: the launcher (engine,
    # processes) runs Flower's own programs and never imports it.
    if name in __all__:
        from privaudit.integrations.flower import strategy

        return getattr(strategy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
