"""r2-video's infrastructure, in three parts.

* What ``pulumi up`` runs: the program (``__main__``), its configuration layer (``settings``,
  ``stack_config``, ``validation``, ``residency``) and one ComponentResource a module in
  ``components``.
* What review runs without credentials: ``review`` (offline plan, diff, risk table, policy pack).
* What the cost model runs: ``cost`` (workload, prices and their sourced data file, the model).

``cli`` is the one entry point for the offline tools: ``python -m infra.cli plan|diff|cost``.
"""
