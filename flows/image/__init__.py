"""Image flows: generate (diffusers), validate, profile, export."""
