"""Multi-table synthesis: schema checks, HMA and parent-first models, integrity, quality, storage of fitted models."""

from tasks.multitable.checks import check_tables, orphan_mode
from tasks.multitable.cost import method_choice
from tasks.multitable.integrity import integrity_report
from tasks.multitable.model import MultiTableModel, build_multitable
from tasks.multitable.schema import Relationship, Schema, check_method, parse_schema

__all__ = ["MultiTableModel", "Relationship", "Schema", "build_multitable", "check_method", "check_tables",
           "integrity_report", "method_choice", "orphan_mode", "parse_schema"]
