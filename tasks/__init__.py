"""Tasks: one package per system (tabular, image, context, etl)."""

from inferloop.moved_modules import install as _install_old_names

_install_old_names()
