"""The optional C extension; everything else about the build is in pyproject.toml.

`litegate.plugins.pii._survey` speeds up the PII scanner's first pass over a text (see
plugins/pii/survey.py). `optional=True`: where it cannot be compiled (no C compiler), the
install goes on and the scanner uses the same functions written in Python.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("litegate.plugins.pii._survey", ["plugins/pii/_survey.c"], optional=True),
    ]
)
