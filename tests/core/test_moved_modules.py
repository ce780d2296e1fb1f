"""Modules that moved when the code was split by system stay importable by their documented old names, as the
same module objects, and pickles naming classes by an old module path still load."""

import importlib
import pickle

import pytest

from inferloop.moved_modules import OLD_TO_NEW, new_name


@pytest.mark.parametrize("old", ["flows.generate", "flows.profile_data", "flows.validate", "flows.privacy_analysis",
                                 "flows.train_model", "flows.sample_model", "flows.batch", "flows.multitable",
                                 "flows.image_generate", "flows.context_corpus", "flows.etl_pipeline",
                                 "inferloop.constraint_specs", "inferloop.db", "inferloop.client"])
def test_documented_old_imports_are_the_modules_at_their_new_place(old):
    assert importlib.import_module(old) is importlib.import_module(new_name(old))


def test_the_documented_calls_import_as_written():
    from flows.generate import generate
    from flows.tabular.generate import generate as moved
    from inferloop import TabularClient
    from inferloop.client import TabularClient as old_client
    from inferloop.constraint_specs import parse_constraints
    from inferloop_client import TabularClient as client

    assert generate is moved and TabularClient is old_client is client and callable(parse_constraints)


def test_a_submodule_of_an_old_package_is_not_loaded_twice():
    import tasks.synthesizers.sdv_models as old
    import tasks.tabular.synthesizers.sdv_models as new

    assert old is new and old.__name__ == "tasks.tabular.synthesizers.sdv_models"


def test_a_pickle_naming_an_old_module_path_loads():
    """A model saved before the move names its classes by their old modules (cloudpickle pickles by reference)."""
    from tasks.tabular.multitable.schema import Relationship

    rel = Relationship("customers", "orders", "customer_id", "customer_id")
    data = pickle.dumps(rel, protocol=0).replace(  # protocol 0: the module path is plain text
        b"tasks.tabular.multitable.schema", b"tasks.multitable.schema")
    assert b"tasks.multitable.schema" in data
    assert pickle.loads(data) == rel


def test_every_old_name_resolves():
    for old in OLD_TO_NEW:
        assert importlib.import_module(old) is importlib.import_module(OLD_TO_NEW[old])
