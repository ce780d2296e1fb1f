"""Units of work of the image system (image-api.md): models, denoising, quality, privacy, profiles, export.

Heavy libraries (diffusers, torch, OpenCV, RapidOCR, presidio) are imported inside the functions that use them,
so the API can import these modules for their checks without loading them.
"""
