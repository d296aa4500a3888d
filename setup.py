"""Kept for the native (csrc/) build to come; metadata lives in pyproject.toml."""

from setuptools import setup

setup()
