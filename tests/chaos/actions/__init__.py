"""Actions: everything that changes the system under test (kills, deletes, restarts)."""
