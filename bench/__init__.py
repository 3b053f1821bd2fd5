"""The benchmark of issue 7: `make bench`, or `python -m bench --help`."""
