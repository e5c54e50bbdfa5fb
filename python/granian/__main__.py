"""`python -m granian`: same as the `granian` console script."""

from granian.cli import entrypoint

if __name__ == '__main__':
    entrypoint()
