"""Context flows: sample, corpus, export."""
