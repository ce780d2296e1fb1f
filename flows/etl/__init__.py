"""ETL flows: the pipeline (extract, transform, validate, load)."""
