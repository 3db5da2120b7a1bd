"""``python -m services.retention``: delete finished jobs from the Resonate server's Postgres."""
