"""CLIP for book covers: model loading (``model``), image decoding and preprocessing
(``preprocess``), image/text embedding (``embed``) and the Spark ``mapInPandas`` function
that embeds cover blobs (``spark_udf``).

Submodules are imported lazily by callers (``from book_assets.clip.model import get_clip``)
so that importing this package stays cheap and free of torch/transformers.
"""
