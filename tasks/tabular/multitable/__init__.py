"""Multi-table synthesis: schema checks, HMA and parent-first models, integrity, quality, storage of fitted models."""

from tasks.tabular.multitable.checks import check_tables, orphan_mode
from tasks.tabular.multitable.cost import method_choice
from tasks.tabular.multitable.integrity import integrity_report
from tasks.tabular.multitable.methods import build_multitable
from tasks.tabular.multitable.model import MultiTableModel
from tasks.tabular.multitable.schema import Relationship, Schema, check_method, parse_schema

__all__ = ["MultiTableModel", "Relationship", "Schema", "build_multitable", "check_method", "check_tables",
           "integrity_report", "method_choice", "orphan_mode", "parse_schema"]
