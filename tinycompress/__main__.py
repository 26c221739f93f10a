"""`python -m tinycompress ...` runs the command line."""
from tinycompress.cli import main

if __name__ == "__main__":
    main()
