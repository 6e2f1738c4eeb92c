"""privaudit on Flower (``flwr``, the ``[flower]`` extra): distributed DP-SGD over secure
aggregation on Flower's Deployment Engine, each round admitted by the budget guard and written
to the ledger with the silos that survived.

- :mod:`~privaudit.integrations.flower.server_app`,
  :mod:`~privaudit.integrations.flower.client_app`: the Flower app (ServerApp and ClientApp;
  Bonawitz et al.'s protocol over Flower messages);
- :mod:`~privaudit.integrations.flower.records`: privaudit's messages as Flower records;
- :mod:`~privaudit.integrations.flower.spec`: the run spec the ServerApp reads (JSON, ``.npz``);
- :mod:`~privaudit.integrations.flower.processes`: SuperLink and SuperNodes as processes;
- :mod:`~privaudit.integrations.flower.engine`: :class:`FlowerEngine`, a scenario's deployment
  on Flower.
"""
