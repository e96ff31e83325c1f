"""benchmarks/RESULTS.md: every benchmark appends its run under its own section, dated and with the machine."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

RESULTS_FILE = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """CPU model, CPU count, memory and Python version: figures mean little without them."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} CPUs, {memory:.0f} GiB, Python {platform.python_version()}"


def load_average() -> str:
    """The 1-minute load average: other work on a 2-core machine changes timings."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def append(section: str, body: str, note: str = "", path: Path = RESULTS_FILE) -> None:
    """Append one run under `section` (a "## " heading). The file is only ever appended to: a run whose section is
    not the file's last one opens the section again, so older runs and other benchmarks' runs stay as they were."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    headings = [line.strip() for line in existing.splitlines() if line.startswith("## ")]
    block = ""
    if not headings or headings[-1] != section:
        block += ("\n" if existing and not existing.endswith("\n\n") else "") + section + "\n\n"
    block += f"### {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} — {machine()}"
    block += f" — {note}\n\n" if note else "\n\n"
    block += body.rstrip("\n") + "\n\n"
    with path.open("a", encoding="utf-8") as out:
        out.write(block)
