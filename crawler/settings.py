"""Scrapy settings: polite by default (robots.txt, identified user agent, AutoThrottle, per-domain concurrency),
robust (retries, timeouts, size limits, conditional re-crawls through the HTTP cache) and safe (no private
addresses). crawler.run sets the per-run values: database, HTTP cache and job directories, progress display."""

BOT_NAME = "vivier"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "VivierBot/0.2 (+https://vivier.example/robot; innovation sourcing for public buyers)"
ROBOTSTXT_OBEY = True

# Politeness: one site is one small organisation's server. AutoThrottle adapts to its latency.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 10
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Robustness: a profile page is small; anything bigger is not what we want. Transient failures are retried
# (timeouts, resets, 5xx, 429), then counted and reported: a bad page never stops a crawl.
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
REDIRECT_MAX_TIMES = 5

# Re-crawls ask each server whether a page changed since the last visit (crawler.httpcache).
HTTPCACHE_ENABLED = True
HTTPCACHE_POLICY = "crawler.httpcache.RevalidatingPolicy"
HTTPCACHE_STORAGE = "crawler.httpcache.SqliteCacheStorage"
HTTPCACHE_DIR = "httpcache"

# SSRF guard (crawler.middlewares): no request to private, loopback or link-local addresses unless allowed.
VIVIER_ALLOW_PRIVATE_NETWORKS = False
DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.PublicAddressesOnly": 50,
    "crawler.middlewares.RobotsCrawlDelay": 950,  # close to the downloader: sees robots.txt and every response
    # No spider of ours sends credentials.
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    # Byte counts of every request and response (it serialises each response again to measure it); the run's
    # figures come from the engine's own counts and ours.
    "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
}
SPIDER_MIDDLEWARES = {
    # Warns about meta keys our spiders never copy; it cost a few percent of every page.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
}
TWISTED_DNS_RESOLVER = "crawler.middlewares.PublicOnlyResolver"

ITEM_PIPELINES = {
    "crawler.pipelines.NormalisePipeline": 100,
    "crawler.pipelines.CategorisePipeline": 150,
    "crawler.pipelines.ValidatePipeline": 200,
    "crawler.pipelines.StorePipeline": 300,
}
# The vivier Settings of the crawl (vivier.config.Settings), read by spiders and pipelines: crawler.run passes its
# caller's; for `scrapy crawl`, the add-on reads them from the environment once (crawler.addons).
VIVIER_SETTINGS = None
ADDONS = {
    "crawler.addons.VivierConfiguration": 0,
}
EXTENSIONS = {
    "crawler.progress.ProgressLine": 500,
}
VIVIER_PROGRESS = False

# Profiles need no session: no cookies kept between pages. No telnet console port opened on the crawler's host, nor
# Scrapy's remote control server (it runs the Python code it is sent).
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Per page, Scrapy parsed the callback's source to warn about generators returning a value (ours return nothing):
# a few percent of a re-crawl. A paused crawl's queue (JOBDIR) is written with marshal, faster than pickle; our
# requests carry only plain values.
WARN_ON_GENERATOR_RETURN_VALUE = False
SCHEDULER_DISK_QUEUE = "scrapy.squeues.MarshalLifoDiskQueue"

# Items of one response handled at once (Scrapy starts this many tasks per response): a page gives one profile, or
# a listing its few links, and the pipelines are synchronous. Scrapy's 100 cost more in task set-up than pages.
CONCURRENT_ITEMS = 8

LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"

# Overrides for crawling our own fixture sites on loopback: no delay, more parallelism, loopback allowed.
LOOPBACK_FIXTURE_OVERRIDES = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    "VIVIER_ALLOW_PRIVATE_NETWORKS": True,
}
