"""The job path: submit, read, list and cancel jobs on the Resonate server.

The job store, submissions and their fingerprints, ids, views and their cache,
the kind catalogue as the gateway sees it.
"""
