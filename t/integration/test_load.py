"""The load test with identity checks (t/load/load.py), at a small size.

The full size (64 clients, 1,000 certificates, 100,000 requests, 3
graceful restarts, 3 map changes) is run by hand:
    python3 t/load/load.py --clients 64 --certs 1000 --requests 100000 \\
        --restarts 3 --map-changes 3
Here: 16 concurrent TLS clients over 120 certificates (mapped, unmapped,
denied by the map file and by CertMapDeny, no certificate), 3,000
requests through mod_proxy_http to an echo backend, one graceful restart
and one map-file change during the load.  The script computes every
expected identity from its own table; this test asserts on the counts it
reports, and checks with a deliberately wrong expectation that the
checks do fail."""

import json
import os
import subprocess
import sys

LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "load",
                    "load.py")


def _run(tmp_path, *args):
    out = tmp_path / "load.json"
    p = subprocess.run([sys.executable, LOAD, "--json", str(out)]
                       + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=600)
    text = p.stdout.decode(errors="replace")
    print(text)
    assert out.exists(), "load.py wrote no figures (rc %d):\n%s" \
        % (p.returncode, text)
    with open(out) as f:
        return p.returncode, json.load(f), text


def test_load_small(module_so, tmp_path):
    rc, r, text = _run(tmp_path, "--clients", 16, "--certs", 120,
                       "--requests", 3000, "--restarts", 1,
                       "--map-changes", 1, "--children", 2)
    assert r["requests"] == 3000, text
    assert r["responses"] >= 3000 - r["failed_requests"], text
    assert r["wrong_identities"] == 0, text
    assert r["unexpected_statuses"] == 0, text
    assert r["failed_requests"] == 0, text
    assert r["crashed_children"] == 0, text
    assert r["sanitizer_reports"] == 0, text
    assert r["parent_alive"], text
    assert r["restarts_done"] == 1 and r["restarts_in_error_log"] == 1, text
    assert r["map_changes_confirmed"] == 1, text
    assert r["reloads_in_error_log"] >= 1, text
    assert r["events_not_during_load"] == 0, text
    # every class took part, every certificate was used
    assert r["certificates"] == 120 and r["certificates_used"] == 120, text
    assert r["no_certificate_used"], text
    assert r["checked_200"] > 0 and r["checked_403"] > 0, text
    assert r["checked_200"] + r["checked_403"] == r["responses"], text
    # every answered request's access-log line carries the same %u
    assert r["access_log_checked"] == r["responses"], text
    assert r["access_log_mismatches"] == 0, text
    assert r["final_sweep_checks"] == 121, text
    changes = [e for e in r["events"] if e["event"] == "map change"]
    assert changes and changes[0]["changed"] > 0, text
    assert changes[0]["changed_wrong"] == 0, text
    assert rc == 0 and not r["targets_missed"], text


def test_load_checks_can_fail(module_so, tmp_path):
    """Expect a wrong account for 3 mapped certificates: the script must
    count those answers as wrong identities and exit 1."""
    rc, r, text = _run(tmp_path, "--clients", 4, "--certs", 30,
                       "--requests", 300, "--restarts", 0,
                       "--map-changes", 0, "--children", 1,
                       "--inject-wrong", 3)
    assert rc == 1, text
    assert r["wrong_identities"] > 0, text
    assert any(".injected" in e for e in r["errors"]), text
    assert any("wrong_identities" in m for m in r["targets_missed"]), text
    # nothing else went wrong
    assert r["failed_requests"] == 0 and r["unexpected_statuses"] == 0, text
