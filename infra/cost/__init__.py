"""The cost model: a stack's workload (``workload``), vendor prices from a sourced data file
(``prices``, ``prices.json``) and the comparison R2 + CDN against S3 + CloudFront (``model``)."""
