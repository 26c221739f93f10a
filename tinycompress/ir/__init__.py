"""The two data types every stage passes on: the float `Graph` and the integer `QGraph`."""
