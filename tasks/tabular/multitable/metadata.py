"""SDV / sdmetrics metadata of related tables: detected column types, our keys as ids, our relationships."""

from __future__ import annotations

import pandas as pd

from tasks.tabular.multitable.schema import Schema


def sdv_metadata(frames: dict[str, pd.DataFrame], schema: Schema):
    """An `sdv.metadata.Metadata` of `frames` (tables of `schema`) with its keys and relationships."""
    from sdv.metadata import Metadata

    md = Metadata.detect_from_dataframes(data=frames, infer_keys=None)
    for table in frames:
        for column in schema.key_columns(table):
            md.update_column(table_name=table, column_name=column, sdtype="id")
        if table in schema.primary_keys:
            md.set_primary_key(table_name=table, column_name=schema.primary_keys[table])
    for r in schema.relationships:
        if r.parent in frames and r.child in frames:
            md.add_relationship(parent_table_name=r.parent, child_table_name=r.child,
                                parent_primary_key=r.parent_key, child_foreign_key=r.child_key)
    return md
