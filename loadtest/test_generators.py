"""Unit tests for generators.py: the commands built and the output read, for wrk and for oha.

The outputs below were recorded from wrk 4.1.0 and oha 1.16.0 against pollserve on this machine.
Run: python3 -m unittest discover -s loadtest   (.ci/run does)
"""

import json
import unittest
from types import SimpleNamespace
from unittest import mock

import generators

WRK_KEEPALIVE = """Running 1s test @ http://127.0.0.1:8128/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    61.89us   76.08us   2.73ms   99.00%
    Req/Sec    99.42k     9.30k  108.30k    81.82%
  Latency Distribution
     50%   61.00us
     75%   70.00us
     90%   82.00us
     99%  137.00us
  108378 requests in 1.10s, 21.74MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  98522.95
Transfer/sec:     19.76MB
"""

WRK_PIPELINED = """Running 1s test @ http://127.0.0.1:8128/plaintext
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    50.92us  149.16us   3.90ms   56.54%
    Req/Sec     1.18M    15.00k    1.20M    54.55%
  Latency Distribution
     50%   95.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  1284304 requests in 1.10s, 203.65MB read
Requests/sec: 1167731.68
Transfer/sec:    185.16MB
"""

OHA_OK = {
    "summary": {"successRate": 1.0, "total": 2.003154964, "requestsPerSec": 96357.99},
    "latencyPercentiles": {"p10": 0.000513334, "p50": 0.000611882, "p99": 0.001206497},
    "statusCodeDistribution": {"200": 192969},
    "errorDistribution": {"aborted due to deadline": 51},
}

OHA_404 = {
    "summary": {"successRate": 1.0, "total": 1.002201859},
    "latencyPercentiles": {"p50": 0.0001, "p99": 0.0002},
    "statusCodeDistribution": {"404": 88939, "200": 10},
    "errorDistribution": {"aborted due to deadline": 8, "connection closed before message completed": 3},
}


def scenario(**kw):
    fields = dict(path="/", connections=64, pipeline=1, close=False, script="", method="GET", body="")
    fields.update(kw)
    return SimpleNamespace(**fields)


class WrkTest(unittest.TestCase):
    def test_reads_requests_rate_latency_and_errors(self):
        load = generators.Wrk().parse(WRK_KEEPALIVE)
        self.assertEqual(load.requests, 108378)
        self.assertAlmostEqual(load.seconds, 1.10)
        self.assertAlmostEqual(load.rps, 98522.95)
        self.assertEqual(load.errors, 3 + 4)
        self.assertAlmostEqual(load.p50_ms, 0.061)
        self.assertAlmostEqual(load.p99_ms, 0.137)

    def test_pipelined_latency_is_not_reported(self):
        load = generators.Wrk().parse(WRK_PIPELINED)
        self.assertEqual(load.requests, 1284304)
        self.assertEqual(load.errors, 0)
        self.assertIsNone(load.p50_ms)
        self.assertIsNone(load.p99_ms)

    def test_command_pins_and_passes_script_arguments(self):
        argv = generators.Wrk().command(scenario(pipeline=16, path="/plaintext"), "http://h/plaintext", 5, "T", "0")
        self.assertEqual(argv[:3], ["taskset", "-c", "0"])
        self.assertIn("-c64", argv)
        self.assertEqual(argv[-2:], ["--", "16"])
        argv = generators.Wrk().command(scenario(close=True), "http://h/", 5, "T", None)
        self.assertEqual(argv[0], "wrk")
        self.assertIn("Connection: close", argv)


class OhaTest(unittest.TestCase):
    def test_deadline_aborts_are_not_errors(self):
        load = generators.Oha().parse(json.dumps(OHA_OK))
        self.assertEqual(load.requests, 192969)
        self.assertAlmostEqual(load.rps, 192969 / 2.003154964)
        self.assertEqual(load.errors, 0)
        self.assertAlmostEqual(load.p50_ms, 0.611882)
        self.assertAlmostEqual(load.p99_ms, 1.206497)

    def test_non_2xx_3xx_and_connection_errors_count(self):
        load = generators.Oha().parse(json.dumps(OHA_404))
        self.assertEqual(load.requests, 88949)
        self.assertEqual(load.errors, 88939 + 3)

    def test_unreadable_output_is_an_empty_result(self):
        self.assertEqual(generators.Oha().parse("oha: error").requests, 0)

    def test_pipelining_is_unsupported(self):
        self.assertTrue(generators.Oha().unsupported(scenario(pipeline=16)))
        self.assertFalse(generators.Oha().unsupported(scenario()))

    def test_command_sends_the_body_and_token_and_disables_keepalive(self):
        argv = generators.Oha().command(scenario(method="POST", body='{"a":1}'), "http://h/x", 5, "TOK", "0")
        self.assertEqual(argv[:3], ["taskset", "-c", "0"])
        self.assertEqual(argv[argv.index("-m") + 1], "POST")
        self.assertEqual(argv[argv.index("-d") + 1], '{"a":1}')
        self.assertIn("Authorization: Bearer TOK", argv)
        self.assertIn("--disable-keepalive", generators.Oha().command(scenario(close=True), "u", 5, "T", None))


class ChooseTest(unittest.TestCase):
    def test_wrk_when_present(self):
        with mock.patch("shutil.which", lambda tool: f"/usr/bin/{tool}"):
            self.assertIsInstance(generators.choose("auto", lambda _: None), generators.Wrk)

    def test_oha_when_wrk_cannot_be_installed(self):
        which = {"oha": "/usr/bin/oha"}.get
        with mock.patch("shutil.which", which), mock.patch.object(generators, "apt_install") as apt:
            self.assertIsInstance(generators.choose("auto", lambda _: None), generators.Oha)
            apt.assert_called_once()

    def test_neither_is_a_clear_exit(self):
        with mock.patch("shutil.which", lambda tool: None), \
                mock.patch.object(generators, "apt_install"), mock.patch.object(generators, "cargo_install_oha"):
            with self.assertRaises(SystemExit) as e:
                generators.choose("auto", lambda _: None)
            self.assertIn("neither wrk", str(e.exception))


if __name__ == "__main__":
    unittest.main()
