"""Builds the extension against libkern from the host prefix (conda's $PREFIX)."""
import os
import sys

from setuptools import Extension, setup

prefix = os.environ.get("PREFIX", sys.prefix)
setup(ext_modules=[Extension("pykern", ["pykern.c"], include_dirs=[f"{prefix}/include"],
                             library_dirs=[f"{prefix}/lib"], libraries=["kern"])])
