"""``python -m netslim``: the command line."""

from netslim.cli.app import main

if __name__ == "__main__":
    main()
