"""Preflight and audit: a stack's settings checked, read-only, against the real accounts.

``python -m infra.cli preflight --stack S`` runs it with the credentials `pulumi up` uses
(``CLOUDFLARE_API_TOKEN``, the AWS default chain), before the first `up` and at any time after.
Each check is a line that passes or fails with its fix; exit 0 when nothing fails, 1 otherwise.
"""
