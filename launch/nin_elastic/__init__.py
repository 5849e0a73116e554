"""launch/elastic's modules: the host pool, what a run needs (batch rule, checkpoints), the
launcher's output, the supervisor that restarts it, and the command line. Helpers raise
Exit; only cli.run() turns one into a message and an exit code."""
