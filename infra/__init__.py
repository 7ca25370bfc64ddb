"""The Pulumi program and its components, plus the offline tools in ``infra.cli``."""
