"""The `vivier` command line (`main.py`: demo, crawl, index, search, eval, serve, worker, operators...) and the
loopback fixture server the demo and the tests crawl (`devserver.py`). It sits above every other package: it may
import the crawler, the indexer and the app; nothing imports it."""
