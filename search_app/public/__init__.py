"""Public pages, for anyone and without an account: the search and its results (search.py: facets, map, htmx
partials), supplier pages (suppliers.py), the shortlist and its exports (shortlist.py, exports.py), a search from a
specification document (documents.py), purchasing centrals' catalogues (centrals.py), statistics (statistics.py)
and the open data (opendata.py: sitemap, robots.txt, files); with the pictures they draw (maps.py, charts.py), the
schema.org JSON-LD of supplier pages (jsonld.py) and the per-day search counter (search_counter.py)."""
