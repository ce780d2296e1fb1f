"""Flows: one package per system (tabular, image, context, etl); progress, cancel guard and outputs shared."""

from inferloop.moved_modules import install as _install_old_names

_install_old_names()
