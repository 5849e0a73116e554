"""Exit codes, the one error type and the launcher's voice, shared by every module."""

EXIT_OK, EXIT_FAULT, EXIT_INPUT, EXIT_PREEMPTED = 0, 1, 2, 3  # as nin-dist's (src/app)


class Exit(Exception):
    """Ends the launcher: cli.run() prints the message and exits with the code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def say(text):
    print("elastic: " + text, flush=True)


def ranks(n):
    return f"{n} rank" + ("" if n == 1 else "s")
