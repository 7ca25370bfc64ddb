"""What a reviewer's tools run, with no cloud credentials: the program under Pulumi's mocks
(``offline``), the plan built from it (``plan``), the diff of two plans (``diff``) judged by one
risk table (``risk``), and the policy rules (``policy``), which run offline and as a CrossGuard
pack."""
