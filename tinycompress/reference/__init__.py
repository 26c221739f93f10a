"""Executable specifications: the float interpreter and the integer reference."""
