"""Pure-Python readers for the OpenLibrary bulk dump (no Spark, no Dagster imports).

Modules, one job each:

* :mod:`~book_assets.openlibrary.dump_lines` -- split and decode one five-column dump line.
* :mod:`~book_assets.openlibrary.publish_dates` -- the publication year of a free-form date.
* :mod:`~book_assets.openlibrary.fields` -- shape-tolerant readers for single JSON fields.
* :mod:`~book_assets.openlibrary.fiction` -- adult-fiction classification from subjects.
* :mod:`~book_assets.openlibrary.records` -- per-record field extraction and edition filtering.
"""
