"""The fleet path with the real servers: what `zdedup scan --prometheus` and `zdedup report
--prometheus` (the rendering `live` rewrites every interval) write, read by Debian's
prometheus-node-exporter's textfile collector, scraped by Debian's prometheus, queried
over its HTTP API, and compared exactly with the JSON report of the same run. Both
servers run on loopback ports picked here, with their data under the test's temp dir,
and are stopped by the test; the shipped rules in deploy/prometheus/ are loaded into
that Prometheus and checked and unit-tested with promtool."""
import json
import random
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import BUILD, REPO, run

PAGE = 4096
RULES = REPO / "deploy" / "prometheus" / "zdedup.rules.yml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "zdedup.rules.test.yml"
NODE_EXPORTER = shutil.which("prometheus-node-exporter")
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
DEADLINE = 40  # seconds for both servers to come up and the first scrapes to land

if not (NODE_EXPORTER and PROMETHEUS and PROMTOOL):
    pytest.fail("prometheus and prometheus-node-exporter are not installed (make setup)",
                pytrace=False)


# --- the workload: a file of known duplicate pages ---------------------------

DISTINCT = 307  # prime: the ratio has all 17 digits, so a rounded textfile value shows
ZERO = 100


def multiplicity(i):
    return 1 + i % 7


def mix_file(path):
    """DISTINCT contents, content i on multiplicity(i) pages, plus ZERO zero pages,
    interleaved. Each content is half random (so zstd has work) and half zeros."""
    pages = [i for i in range(1, DISTINCT + 1) for _ in range(multiplicity(i))] + [0] * ZERO
    random.Random(14).shuffle(pages)
    with open(path, "wb") as f:
        for i in pages:
            f.write(bytes(PAGE) if i == 0 else
                    random.Random(i).randbytes(PAGE // 2) + bytes(PAGE // 2))
    return len(pages)


# --- the servers ---------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Server:
    """One server process on a free loopback port; up() waits until url answers."""

    def __init__(self, tmp, name, argv_for_port, ready_path):
        self.tmp, self.name, self.argv_for_port, self.ready_path = tmp, name, argv_for_port, ready_path
        self.proc = None

    def start(self):
        for _ in range(3):  # a port taken between free_port() and the bind: pick another
            self.port = free_port()
            self.log = open(self.tmp / f"{self.name}.log", "w")
            self.proc = subprocess.Popen(self.argv_for_port(self.port), stdout=self.log,
                                         stderr=subprocess.STDOUT, cwd=self.tmp)
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    http_get(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1)
                    return self
                except (urllib.error.URLError, ConnectionError, socket.timeout):
                    time.sleep(0.1)
            self.stop()
        pytest.fail(f"{self.name} did not come up: " + (self.tmp / f"{self.name}.log").read_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()


@pytest.fixture
def servers(tmp_path):
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    node = Server(tmp_path, "node_exporter", lambda port: [
        NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults", "--collector.textfile", "--collector.meminfo",
        f"--collector.textfile.directory={textfiles}"], "/metrics")
    prom = None
    try:
        node.start()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: ['{RULES}']\n"
            "scrape_configs:\n"
            "  - job_name: node\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{node.port}']}}]\n")
        prom = Server(tmp_path, "prometheus", lambda port: [
            PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"], "/-/ready")
        prom.start()
        yield textfiles, node, prom
    finally:
        if prom:
            prom.stop()
        node.stop()


def query(prom, expr):
    """Instant query over the HTTP API: {frozenset of labels but the name: float value}."""
    url = f"http://127.0.0.1:{prom.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(http_get(url))
    assert body["status"] == "success", body
    return {frozenset((k, v) for k, v in r["metric"].items() if k != "__name__"):
            float(r["value"][1]) for r in body["data"]["result"]}


def wait_for(prom, expr, n=1):
    """The query's result once it has n series (scrapes and rule evaluations take a while)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        got = query(prom, expr)
        if len(got) >= n:
            return got
        time.sleep(0.2)
    pytest.fail(f"no {n} series for {expr} within {DEADLINE} s")


def one(result):
    assert len(result) == 1, result
    return next(iter(result.values()))


def mem_total_bytes():
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


# --- tests ---------------------------------------------------------------------

def test_scan_and_report_textfiles_through_node_exporter_and_prometheus(tmp_path, servers):
    textfiles, node, prom = servers
    image = tmp_path / "image.raw"
    pages = mix_file(image)
    nonzero = pages - ZERO

    # The scan, once as JSON and once into the textfile directory (--sample 1:
    # every page compressed, so both runs estimate the same bytes).
    scan_json = json.loads(run("zdedup", "scan", "--json", "--sample", "1", image,
                               check=0).stdout)
    assert (scan_json["pages"], scan_json["zero_pages"], scan_json["distinct"]) == \
        (pages, ZERO, DISTINCT)
    assert scan_json["dedup_ratio"] == nonzero / DISTINCT
    assert scan_json["est_saved_bytes"] > 0
    run("zdedup", "scan", "-q", "--sample", "1", "--prometheus",
        textfiles / "zdedup.prom", image, check=0)

    # The rendering `live` rewrites each interval, through `report` on a trace of a known
    # mix: 2 memory cgroups, each 1000 pages over 300 contents of 1000 compressed bytes.
    trace = tmp_path / "synth.zdt"
    run("zdedup-synth", "--pages", 1000, "--distinct", 300, "--scopes", 2, "--comp-len", 1000,
        trace, check=0)
    totals = json.loads(run("zdedup", "report", "--json", trace, check=0).stdout)
    assert (totals["logical_pages"], totals["distinct"]) == (2000, 600)
    assert totals["saved_bytes"] == (2000 - 600) * 1000
    run("zdedup", "report", "--prometheus", textfiles / "zdedup-live.prom", trace, check=0)

    # Straight from the scrape: exact equality with the JSON (%.17g in the textfile,
    # shortest round-trip strings in Prometheus' API).
    assert one(wait_for(prom, "zdedup_scan_dedup_ratio")) == scan_json["dedup_ratio"]
    assert one(query(prom, "zdedup_scan_est_saved_bytes")) == scan_json["est_saved_bytes"]
    assert one(query(prom, "zdedup_scan_distinct_contents")) == DISTINCT
    assert one(query(prom, "zdedup_scan_distinct")) == DISTINCT  # the old name, until 0.3
    assert one(query(prom, "zdedup_scan_pages - zdedup_scan_zero_pages")) == nonzero
    assert one(wait_for(prom, "zdedup_dedup_ratio")) == totals["dedup_ratio"]
    assert one(query(prom, "zdedup_saved_bytes")) == totals["saved_bytes"]
    assert one(query(prom, "zdedup_logical_pages")) == totals["logical_pages"]
    assert {dict(k)["scope"]: v for k, v in query(prom, "zdedup_scope_logical_pages").items()} \
        == {"100": 1000, "101": 1000}

    # node_exporter read both files cleanly, under the file label the stale alert matches.
    assert one(query(prom, "node_textfile_scrape_error")) == 0
    assert len(query(prom, 'node_textfile_mtime_seconds{file=~"(.*/)?zdedup[^/]*[.]prom"}')) == 2

    # The shipped recording rules, evaluated by the real server on the real scrape.
    labels = frozenset({"job": "node"}.items())
    assert wait_for(prom, "job:zdedup_scan_est_saved_bytes:sum") == \
        {labels: scan_json["est_saved_bytes"]}
    assert wait_for(prom, "job:zdedup_scan_dedup_ratio:pages_weighted") == \
        {labels: nonzero / DISTINCT}
    assert wait_for(prom, "job:zdedup_saved_bytes:sum") == {labels: totals["saved_bytes"]}
    assert wait_for(prom, "job:zdedup_dedup_ratio:pages_weighted") == \
        {labels: 2000 / 600}
    assert one(wait_for(prom, "instance:zdedup_scan_est_saved_memory:ratio")) == \
        scan_json["est_saved_bytes"] / mem_total_bytes()


def test_textfiles_pass_promtool_lint(tmp_path):
    """Prometheus' own linter on what zdedup writes: counters end in _total, units in
    base units and plural, HELP on every family."""
    image = tmp_path / "image.raw"
    mix_file(image)
    prom = tmp_path / "zdedup.prom"
    run("zdedup", "scan", "-q", "--prometheus", prom, image, check=0)
    run("zdedup-synth", tmp_path / "synth.zdt", check=0)
    run("zdedup", "report", "--prometheus", tmp_path / "live.prom", tmp_path / "synth.zdt",
        check=0)
    for f in (prom, tmp_path / "live.prom"):
        p = subprocess.run([PROMTOOL, "check", "metrics"], stdin=open(f), capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0 and p.stdout + p.stderr == "", (f.read_text(), p.stdout, p.stderr)


def test_rules_check_and_unit_tests():
    p = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and "SUCCESS: 11 rules found" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS.name], capture_output=True,
                       text=True, timeout=60, cwd=RULE_TESTS.parent)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
