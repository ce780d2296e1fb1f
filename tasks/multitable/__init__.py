"""Multi-table synthesis: schema checks, HMA and parent-first models, integrity, storage of fitted models."""

from tasks.multitable.checks import check_tables
from tasks.multitable.integrity import integrity_report
from tasks.multitable.model import MultiTableModel, build_multitable
from tasks.multitable.schema import Relationship, Schema, choose_method, parse_schema

__all__ = ["MultiTableModel", "Relationship", "Schema", "build_multitable", "check_tables", "choose_method",
           "integrity_report", "parse_schema"]
