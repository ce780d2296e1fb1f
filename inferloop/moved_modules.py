"""Modules that moved when the code was split by system (issue 24), importable by their old names.

`from flows.generate import generate`, `from inferloop.constraint_specs import parse_constraints`,
`from inferloop.client import TabularClient` and models pickled before the move (whose classes are named by
their old module, e.g. `tasks.constraints`) keep working: an old name (or a submodule of one) imports the
module at its new place, and both names are the same module object. Nothing here is used by the code itself.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

OLD_TO_NEW = {
    # flows: one package per system
    "flows.generate": "flows.tabular.generate",
    "flows.train_model": "flows.tabular.train_model",
    "flows.sample_model": "flows.tabular.sample_model",
    "flows.profile_data": "flows.tabular.profile_data",
    "flows.validate": "flows.tabular.validate",
    "flows.privacy_analysis": "flows.tabular.privacy_analysis",
    "flows.batch": "flows.tabular.batch",
    "flows.multitable": "flows.tabular.multitable",
    "flows.image_generate": "flows.image.generate",
    "flows.image_validate": "flows.image.validate",
    "flows.image_profile": "flows.image.profile_images",
    "flows.image_export": "flows.image.export",
    "flows.context_corpus": "flows.context.corpus",
    "flows.context_export": "flows.context.export",
    "flows.context_sample": "flows.context.sample",
    "flows.etl_pipeline": "flows.etl.pipeline",
    # tasks: the tabular system's tasks (saved models name their classes by these modules)
    "tasks.constraints": "tasks.tabular.constraints",
    "tasks.export": "tasks.tabular.export",
    "tasks.expectations": "tasks.tabular.expectations",
    "tasks.load": "tasks.tabular.load",
    "tasks.model_store": "tasks.tabular.model_store",
    "tasks.privacy": "tasks.tabular.privacy",
    "tasks.profile": "tasks.tabular.profile",
    "tasks.profile_report": "tasks.tabular.profile_report",
    "tasks.profiling": "tasks.tabular.profiling",
    "tasks.quality": "tasks.tabular.quality",
    "tasks.sample": "tasks.tabular.sample",
    "tasks.stream_sampler": "tasks.tabular.stream_sampler",
    "tasks.train": "tasks.tabular.train",
    "tasks.validate": "tasks.tabular.validate",
    "tasks.validation_report": "tasks.tabular.validation_report",
    "tasks.synthesizers": "tasks.tabular.synthesizers",
    "tasks.multitable": "tasks.tabular.multitable",
    # inferloop: tabular helpers, the core, the client
    "inferloop.tables": "tasks.tabular.tables",
    "inferloop.conditions": "tasks.tabular.conditions",
    "inferloop.constraint_specs": "tasks.tabular.constraint_specs",
    "inferloop.export_stream": "tasks.tabular.export_stream",
    "inferloop.batch_spec": "tasks.tabular.batch_spec",
    "inferloop.estimates": "tasks.tabular.estimates",
    "inferloop.settings": "inferloop.core.settings",
    "inferloop.db": "inferloop.core.db",
    "inferloop.storage": "inferloop.core.storage",
    "inferloop.errors": "inferloop.core.errors",
    "inferloop.auth": "inferloop.core.auth",
    "inferloop.registry": "inferloop.core.registry",
    "inferloop.webhooks": "inferloop.core.webhooks",
    "inferloop.client": "inferloop_client",
    "inferloop.client_config": "inferloop_client.config",
}


def new_name(old: str) -> str | None:
    """The module's current name, for an old name or a submodule of one; None if it did not move."""
    for prefix in (old, *(old.rsplit(".", n)[0] for n in range(1, old.count(".") + 1))):
        if prefix in OLD_TO_NEW:
            return OLD_TO_NEW[prefix] + old[len(prefix):]
    return None


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        target_name = new_name(fullname)
        if target_name is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=False)

    def create_module(self, spec):
        return importlib.import_module(new_name(spec.name))

    def exec_module(self, module):  # the module ran already under its new name
        pass


def install() -> None:
    """Make the old names importable (idempotent)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())  # first: a submodule of an old package name must not load twice
