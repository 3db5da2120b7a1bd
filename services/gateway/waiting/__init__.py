"""Long-polls woken by push: the process's stream to the Resonate server, the jobs waited on."""
