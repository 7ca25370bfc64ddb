"""The stack's Pulumi components, one ``pulumi.ComponentResource`` a module, plus the builder of
the coordinator's Lambda package (``package``). Nothing here reads stack configuration: each
component takes its frozen, self-checking args."""
