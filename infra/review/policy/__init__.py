"""Policy rules for the stacks, run offline by ``infra.cli plan`` and by ``--policy-pack``."""
