"""Scrapy settings: polite by default (robots.txt, identified user agent, throttling, bounded sizes)."""

BOT_NAME = "vivier"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "VivierBot/0.1 (+https://vivier.example/robot; innovation sourcing for public buyers)"
ROBOTSTXT_OBEY = True

# Politeness: one site is one small organisation's server. AutoThrottle adapts to its latency.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 10
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

# Robustness: a profile page is small; anything bigger is not what we want.
DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2

ITEM_PIPELINES = {
    "crawler.pipelines.NormalisePipeline": 100,
    "crawler.pipelines.ValidatePipeline": 200,
    "crawler.pipelines.StorePipeline": 300,
}

LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"

# Overrides for crawling our own fixture sites on loopback: no delay, more parallelism.
LOOPBACK_FIXTURE_OVERRIDES = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
}
