"""Assertions shared by the mod_certmap integration tests."""

import re

# IIS sub-status of each refusal reason.
SUBSTATUS = {
    "tls-required": "403.4",
    "cert-required": "403.7",
    "cert-untrusted": "403.16",
    "cert-expired": "403.17",
    "cert-revoked": "403.13",
    "cert-unmapped": "403.12",
    "cert-denied": "403.12",
    "cert-mismatch": "403.12",
    "directory-ambiguous": "403.12",
}


def assert_mapped(resp, account, match=None, domain=None):
    """A CGI response (env.cgi) for a request mapped to `account`."""
    assert resp.status == 200, (resp.status, resp.text)
    env = resp.env
    assert env["REMOTE_USER"] == account, env
    assert env["AUTH_TYPE"] == "Certificate", env
    assert env["CERTMAP_USER"] == account, env
    if domain is None:
        domain = account.split("\\", 1)[0] if "\\" in account else ""
    assert env["CERTMAP_DOMAIN"] == domain, env
    assert env["CERTMAP_REASON"] == "", env
    if match is not None:
        if hasattr(match, "search"):
            assert match.search(env["CERTMAP_MATCH"]), env
        else:
            assert env["CERTMAP_MATCH"] == match, env


def assert_anonymous(resp):
    """A CGI response with no mapped identity."""
    assert resp.status == 200, (resp.status, resp.text)
    env = resp.env
    assert env["REMOTE_USER"] == "", env
    assert env["CERTMAP_USER"] == "", env
    assert env["AUTH_TYPE"] == "", env


def assert_refused(server, resp, reason, subject=None, log_count=1):
    """403 with `reason`: body names reason and IIS sub-status, the access
    log carries the reason, and exactly `log_count` non-debug error-log
    line(s) tagged CERTMAP name the reason, the client address and (when a
    certificate was sent) its RFC 2253 subject."""
    sub = SUBSTATUS[reason]
    assert resp.status == 403, (resp.status, resp.text)
    assert reason in resp.text, resp.text
    assert sub in resp.text, resp.text
    line = server.wait_access_line(resp.path)
    assert re.search(r'" 403 \S+ "%s"$' % re.escape(reason), line), line
    client = "[client 127.0.0.1:%d]" % resp.client_port
    lines = server.wait_error_lines("CERTMAP", reason, client,
                                    count=log_count)
    assert len(lines) == log_count, (
        "expected %d CERTMAP error-log line(s) with %r and %r, got:\n%s\n"
        "--- whole error log tail:\n%s"
        % (log_count, reason, client, "\n".join(lines),
           "\n".join(server.read_error_log().splitlines()[-15:])))
    if subject is not None:
        for ln in lines:
            assert subject in ln, ln
    return lines
