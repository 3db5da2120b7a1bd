"""ACME's own Longhaul job kinds: ``LONGHAUL_JOB_MODULES=acme_jobs.kinds``."""
