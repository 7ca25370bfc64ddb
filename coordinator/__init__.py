"""The strict broker: hands credential-less workers presigned URLs scoped to one job.

Imports nothing from Pulumi, and nothing heavy at import time (Lambda cold starts pay for it).
"""
