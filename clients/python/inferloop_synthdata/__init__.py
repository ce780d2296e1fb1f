"""The SDK name image-api.md uses: `from inferloop_synthdata import SyntheticImageClient`.

It is `inferloop.ImageClient` (base URL: INFERLOOP_API_URL, the CLI config, or http://localhost:8000).
"""

from inferloop_client.image import ImageClient as SyntheticImageClient
from inferloop_client.image import ImageJob

__all__ = ["SyntheticImageClient", "ImageJob"]
