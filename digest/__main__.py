"""`python -m digest`: the same as the `digest` command."""

from digest.cli import main

# Guarded: a process that `multiprocessing` spawns may import this module again.
if __name__ == "__main__":
    main()
