"""`python -m studio` runs the CLI."""

from studio.cli import run

# Guarded: Dask starts its worker processes with "spawn", which imports the parent's __main__ module again.
if __name__ == "__main__":
    run()
