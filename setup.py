"""Metadata lives in setup.cfg; this stub lets older pips build the package."""
from setuptools import setup

setup()
