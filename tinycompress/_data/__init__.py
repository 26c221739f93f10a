"""The data that ships with tinycompress: `templates`, `firmware` and `boards`.

Their files stay at the repository's top level; setup.py maps them into this
package (`tinycompress._data.templates`, ...) for the wheel and for editable
installs alike, and `tinycompress.paths` finds them with importlib.resources.
Nothing here is written at run time.
"""
