/*
 * test_forward.c - the CertMapForward encoders (certmap_forward.h): every
 * format's value, the chain, PEM to DER, header-name folding, the scrub
 * family and format names.
 *
 * Two kinds of expectations, neither produced by the code under test:
 *   - fixed certificates (a root, an intermediate, a leaf with an awkward
 *     subject and URI/DNS names, a plain self-signed one) embedded below
 *     with the value of every format for them, made once by a Python
 *     script: certificates with python3-cryptography, values with the
 *     standard library (base64.b64encode, urllib.parse.quote(pem,
 *     safe=""), hashlib.sha256) and the openssl CLI for the subject
 *     (`openssl x509 -noout -subject -nameopt RFC2253,-esc_msb`), then
 *     Envoy's documented quoting written out in the script;
 *   - certificates made at run time (fixtures.c, or built here for names
 *     fixtures.c cannot make), checked against APR's base64 (the engine
 *     uses OpenSSL's), a URL decoder and PEM reader written here, and
 *     PEM_write_bio_X509's text.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certmap_forward.h"
#include "tests.h"

/* ------------------------------------------------------------------ */
/* Fixed certificates and what every format gives for them            */

static const char FIXED_ROOT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBRjCB7aADAgECAhQBsTBrDAJ7RVVjbqVxAcTFDu/dhDAKBggqhkjOPQQDAjAY\n"
    "MRYwFAYDVQQDDA1md2QgdGVzdCByb290MCAXDTI0MDEwMTAwMDAwMFoYDzIwNTQw\n"
    "MTAxMDAwMDAwWjAYMRYwFAYDVQQDDA1md2QgdGVzdCByb290MFkwEwYHKoZIzj0C\n"
    "AQYIKoZIzj0DAQcDQgAE60yE8crEptorbCZHSagvSEZ/4LMH+YDuP4H8TXBuwoOA\n"
    "UFlit7Pm79cmfIxtJQ0+kEZpFVBzii+5K2hcadZvEaMTMBEwDwYDVR0TAQH/BAUw\n"
    "AwEB/zAKBggqhkjOPQQDAgNIADBFAiAPOYmU742R6vRBYVOIQ1kBAg2HPYjTAOnG\n"
    "07NGyWOtGwIhAMHkFFTb49BsaRYnxrSolQxyO3sT6ooYzXXU/lINZiu1\n"
    "-----END CERTIFICATE-----\n";

static const char FIXED_INTER_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBbDCCARGgAwIBAgIUUxEe/Vdn6hTZEErvLiVUzmZ/m0cwCgYIKoZIzj0EAwIw\n"
    "GDEWMBQGA1UEAwwNZndkIHRlc3Qgcm9vdDAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0\n"
    "MDEwMTAwMDAwMFowPDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjAcBgNV\n"
    "BAMMFWZ3ZCB0ZXN0IGludGVybWVkaWF0ZTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABO+bODiHsmyJoLCc+UwkQ2Cj4GFM4vgfUJY3ilX1nkbjf1ZarlsKZeT5GFMJ\n"
    "BFJbV7u/LHXOeu2g48ghAVTrGKKjEzARMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZI\n"
    "zj0EAwIDSQAwRgIhANAWny8Iwm+JKNUnZ6NcPnfSRcPz34277MPIq6hj6I0KAiEA\n"
    "u4mTlAcBJrgi1d0EVtjdU+64npzzaCfUNytxwCfZuJM=\n"
    "-----END CERTIFICATE-----\n";

static const char FIXED_LEAF_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICijCCAi+gAwIBAgIUeDvT+Izo/Eb52rsLGbvjRXxlB2QwCgYIKoZIzj0EAwIw\n"
    "PDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjAcBgNVBAMMFWZ3ZCB0ZXN0\n"
    "IGludGVybWVkaWF0ZTAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAwMFow\n"
    "ZTELMAkGA1UEBhMCRlIxJjAkBgNVBAoMHVNtaXRoLCBKb25lczsgIlBhcnRuZXJz\n"
    "IiBcIENvMREwDwYDVQQLDAhjdGwBaGVyZTEbMBkGA1UEAwwSSm9zw6kg5pel5pys\n"
    "ICs9PD4jMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5qlXMnGzpCu9lDf5FgqM\n"
    "VzDi5J4Pv/+rZrbsOgqdD7P/5q6dbCfuCB2h1kvBw0d4oi4qse25IV3eTYi9Bw7C\n"
    "MaOB4zCB4DAMBgNVHRMBAf8EAjAAMIHPBgNVHREEgccwgcSGJGh0dHBzOi8vYXBw\n"
    "LmV4YW1wbGUudGVzdC9wP2E9MTtiPTIsY4IRbGVhZi5leGFtcGxlLnRlc3SCEWJh\n"
    "ZAEuZXhhbXBsZS50ZXN0hgt1cm46eDphImJcY4ERdXNlckBleGFtcGxlLnRlc3SH\n"
    "BH8AAAGCEWRlbH8uZXhhbXBsZS50ZXN0hi11cm46dXVpZDo2ZThiYzQzMC05YzNh\n"
    "LTExZDktOTY2OS0wODAwMjAwYzlhNjaCDiouZXhhbXBsZS50ZXN0MAoGCCqGSM49\n"
    "BAMCA0kAMEYCIQCSn7aZvkdGR+PHRQThWgW6NtKrAEWrUZMcykXNx2DSNAIhAKcQ\n"
    "/P53SGhVsAzKOg0CFue0mv92aIJH/YN+rxWS7Z/8\n"
    "-----END CERTIFICATE-----\n";

static const char FIXED_PLAIN_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBMjCB2qADAgECAhQHNLIzV7FCK416fHo9cc04WPgPtDAKBggqhkjOPQQDAjAQ\n"
    "MQ4wDAYDVQQDDAVwbGFpbjAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAw\n"
    "MFowEDEOMAwGA1UEAwwFcGxhaW4wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARR\n"
    "ARNBYnodi415Ni4WfxiVoYufnjKT0Vym7WlhBUQINO3ujFA7NnpcA6qBPJq7jmIv\n"
    "p79qfVnMHdLPIK/do0DjoxAwDjAMBgNVHRMBAf8EAjAAMAoGCCqGSM49BAMCA0cA\n"
    "MEQCIA1DbB3ayjIEAsaKW62C52lZ1h2//mMueeTSmpygFTezAiA2IMrdH/gmR9uA\n"
    "ZAD0YyOQvl9Td1G9YxYJAtguWV8BtA==\n"
    "-----END CERTIFICATE-----\n";

static const char FIXED_LEAF_RFC9440[] =
    ":MIICijCCAi+gAwIBAgIUeDvT+Izo/Eb52rsLGbvjRXxlB2QwCgYIKoZIzj0EAwIwPDE"
    "aMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjAcBgNVBAMMFWZ3ZCB0ZXN0IGludGV"
    "ybWVkaWF0ZTAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAwMFowZTELMAkGA1U"
    "EBhMCRlIxJjAkBgNVBAoMHVNtaXRoLCBKb25lczsgIlBhcnRuZXJzIiBcIENvMREwDwY"
    "DVQQLDAhjdGwBaGVyZTEbMBkGA1UEAwwSSm9zw6kg5pel5pysICs9PD4jMFkwEwYHKoZ"
    "Izj0CAQYIKoZIzj0DAQcDQgAE5qlXMnGzpCu9lDf5FgqMVzDi5J4Pv/+rZrbsOgqdD7P"
    "/5q6dbCfuCB2h1kvBw0d4oi4qse25IV3eTYi9Bw7CMaOB4zCB4DAMBgNVHRMBAf8EAjA"
    "AMIHPBgNVHREEgccwgcSGJGh0dHBzOi8vYXBwLmV4YW1wbGUudGVzdC9wP2E9MTtiPTI"
    "sY4IRbGVhZi5leGFtcGxlLnRlc3SCEWJhZAEuZXhhbXBsZS50ZXN0hgt1cm46eDphImJ"
    "cY4ERdXNlckBleGFtcGxlLnRlc3SHBH8AAAGCEWRlbH8uZXhhbXBsZS50ZXN0hi11cm4"
    "6dXVpZDo2ZThiYzQzMC05YzNhLTExZDktOTY2OS0wODAwMjAwYzlhNjaCDiouZXhhbXB"
    "sZS50ZXN0MAoGCCqGSM49BAMCA0kAMEYCIQCSn7aZvkdGR+PHRQThWgW6NtKrAEWrUZM"
    "cykXNx2DSNAIhAKcQ/P53SGhVsAzKOg0CFue0mv92aIJH/YN+rxWS7Z/8:";

static const char FIXED_CHAIN_RFC9440[] =
    ":MIIBbDCCARGgAwIBAgIUUxEe/Vdn6hTZEErvLiVUzmZ/m0cwCgYIKoZIzj0EAwIwGDE"
    "WMBQGA1UEAwwNZndkIHRlc3Qgcm9vdDAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTA"
    "wMDAwMFowPDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjAcBgNVBAMMFWZ3ZCB"
    "0ZXN0IGludGVybWVkaWF0ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABO+bODiHsmy"
    "JoLCc+UwkQ2Cj4GFM4vgfUJY3ilX1nkbjf1ZarlsKZeT5GFMJBFJbV7u/LHXOeu2g48g"
    "hAVTrGKKjEzARMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANAWny8"
    "Iwm+JKNUnZ6NcPnfSRcPz34277MPIq6hj6I0KAiEAu4mTlAcBJrgi1d0EVtjdU+64npz"
    "zaCfUNytxwCfZuJM=:";

static const char FIXED_CHAIN2_RFC9440[] =
    ":MIIBbDCCARGgAwIBAgIUUxEe/Vdn6hTZEErvLiVUzmZ/m0cwCgYIKoZIzj0EAwIwGDE"
    "WMBQGA1UEAwwNZndkIHRlc3Qgcm9vdDAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTA"
    "wMDAwMFowPDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjAcBgNVBAMMFWZ3ZCB"
    "0ZXN0IGludGVybWVkaWF0ZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABO+bODiHsmy"
    "JoLCc+UwkQ2Cj4GFM4vgfUJY3ilX1nkbjf1ZarlsKZeT5GFMJBFJbV7u/LHXOeu2g48g"
    "hAVTrGKKjEzARMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANAWny8"
    "Iwm+JKNUnZ6NcPnfSRcPz34277MPIq6hj6I0KAiEAu4mTlAcBJrgi1d0EVtjdU+64npz"
    "zaCfUNytxwCfZuJM=:, :MIIBRjCB7aADAgECAhQBsTBrDAJ7RVVjbqVxAcTFDu/dhDA"
    "KBggqhkjOPQQDAjAYMRYwFAYDVQQDDA1md2QgdGVzdCByb290MCAXDTI0MDEwMTAwMDA"
    "wMFoYDzIwNTQwMTAxMDAwMDAwWjAYMRYwFAYDVQQDDA1md2QgdGVzdCByb290MFkwEwY"
    "HKoZIzj0CAQYIKoZIzj0DAQcDQgAE60yE8crEptorbCZHSagvSEZ/4LMH+YDuP4H8TXB"
    "uwoOAUFlit7Pm79cmfIxtJQ0+kEZpFVBzii+5K2hcadZvEaMTMBEwDwYDVR0TAQH/BAU"
    "wAwEB/zAKBggqhkjOPQQDAgNIADBFAiAPOYmU742R6vRBYVOIQ1kBAg2HPYjTAOnG07N"
    "GyWOtGwIhAMHkFFTb49BsaRYnxrSolQxyO3sT6ooYzXXU/lINZiu1:";

static const char FIXED_LEAF_TOMCAT[] =
    "-----BEGIN%20CERTIFICATE-----%0AMIICijCCAi%2BgAwIBAgIUeDvT%2BIzo%2FE"
    "b52rsLGbvjRXxlB2QwCgYIKoZIzj0EAwIw%0APDEaMBgGA1UECgwRbW9kX2NlcnRtYXA"
    "gdGVzdHMxHjAcBgNVBAMMFWZ3ZCB0ZXN0%0AIGludGVybWVkaWF0ZTAgFw0yNDAxMDEw"
    "MDAwMDBaGA8yMDU0MDEwMTAwMDAwMFow%0AZTELMAkGA1UEBhMCRlIxJjAkBgNVBAoMH"
    "VNtaXRoLCBKb25lczsgIlBhcnRuZXJz%0AIiBcIENvMREwDwYDVQQLDAhjdGwBaGVyZT"
    "EbMBkGA1UEAwwSSm9zw6kg5pel5pys%0AICs9PD4jMFkwEwYHKoZIzj0CAQYIKoZIzj0"
    "DAQcDQgAE5qlXMnGzpCu9lDf5FgqM%0AVzDi5J4Pv%2F%2BrZrbsOgqdD7P%2F5q6dbC"
    "fuCB2h1kvBw0d4oi4qse25IV3eTYi9Bw7C%0AMaOB4zCB4DAMBgNVHRMBAf8EAjAAMIH"
    "PBgNVHREEgccwgcSGJGh0dHBzOi8vYXBw%0ALmV4YW1wbGUudGVzdC9wP2E9MTtiPTIs"
    "Y4IRbGVhZi5leGFtcGxlLnRlc3SCEWJh%0AZAEuZXhhbXBsZS50ZXN0hgt1cm46eDphI"
    "mJcY4ERdXNlckBleGFtcGxlLnRlc3SH%0ABH8AAAGCEWRlbH8uZXhhbXBsZS50ZXN0hi"
    "11cm46dXVpZDo2ZThiYzQzMC05YzNh%0ALTExZDktOTY2OS0wODAwMjAwYzlhNjaCDio"
    "uZXhhbXBsZS50ZXN0MAoGCCqGSM49%0ABAMCA0kAMEYCIQCSn7aZvkdGR%2BPHRQThWg"
    "W6NtKrAEWrUZMcykXNx2DSNAIhAKcQ%0A%2FP53SGhVsAzKOg0CFue0mv92aIJH%2FYN"
    "%2BrxWS7Z%2F8%0A-----END%20CERTIFICATE-----%0A";

static const char FIXED_LEAF_PEM1[] =
    "-----BEGIN CERTIFICATE----- MIICijCCAi+gAwIBAgIUeDvT+Izo/Eb52rsLGbvj"
    "RXxlB2QwCgYIKoZIzj0EAwIw PDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjA"
    "cBgNVBAMMFWZ3ZCB0ZXN0 IGludGVybWVkaWF0ZTAgFw0yNDAxMDEwMDAwMDBaGA8yMD"
    "U0MDEwMTAwMDAwMFow ZTELMAkGA1UEBhMCRlIxJjAkBgNVBAoMHVNtaXRoLCBKb25lc"
    "zsgIlBhcnRuZXJz IiBcIENvMREwDwYDVQQLDAhjdGwBaGVyZTEbMBkGA1UEAwwSSm9z"
    "w6kg5pel5pys ICs9PD4jMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5qlXMnGzpCu"
    "9lDf5FgqM VzDi5J4Pv/+rZrbsOgqdD7P/5q6dbCfuCB2h1kvBw0d4oi4qse25IV3eTY"
    "i9Bw7C MaOB4zCB4DAMBgNVHRMBAf8EAjAAMIHPBgNVHREEgccwgcSGJGh0dHBzOi8vY"
    "XBw LmV4YW1wbGUudGVzdC9wP2E9MTtiPTIsY4IRbGVhZi5leGFtcGxlLnRlc3SCEWJh"
    " ZAEuZXhhbXBsZS50ZXN0hgt1cm46eDphImJcY4ERdXNlckBleGFtcGxlLnRlc3SH BH"
    "8AAAGCEWRlbH8uZXhhbXBsZS50ZXN0hi11cm46dXVpZDo2ZThiYzQzMC05YzNh LTExZ"
    "DktOTY2OS0wODAwMjAwYzlhNjaCDiouZXhhbXBsZS50ZXN0MAoGCCqGSM49 BAMCA0kA"
    "MEYCIQCSn7aZvkdGR+PHRQThWgW6NtKrAEWrUZMcykXNx2DSNAIhAKcQ /P53SGhVsAz"
    "KOg0CFue0mv92aIJH/YN+rxWS7Z/8 -----END CERTIFICATE-----";

static const char FIXED_LEAF_ARR[] =
    "MIICijCCAi+gAwIBAgIUeDvT+Izo/Eb52rsLGbvjRXxlB2QwCgYIKoZIzj0EAwIwPDEa"
    "MBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHjAcBgNVBAMMFWZ3ZCB0ZXN0IGludGVy"
    "bWVkaWF0ZTAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAwMFowZTELMAkGA1UE"
    "BhMCRlIxJjAkBgNVBAoMHVNtaXRoLCBKb25lczsgIlBhcnRuZXJzIiBcIENvMREwDwYD"
    "VQQLDAhjdGwBaGVyZTEbMBkGA1UEAwwSSm9zw6kg5pel5pysICs9PD4jMFkwEwYHKoZI"
    "zj0CAQYIKoZIzj0DAQcDQgAE5qlXMnGzpCu9lDf5FgqMVzDi5J4Pv/+rZrbsOgqdD7P/"
    "5q6dbCfuCB2h1kvBw0d4oi4qse25IV3eTYi9Bw7CMaOB4zCB4DAMBgNVHRMBAf8EAjAA"
    "MIHPBgNVHREEgccwgcSGJGh0dHBzOi8vYXBwLmV4YW1wbGUudGVzdC9wP2E9MTtiPTIs"
    "Y4IRbGVhZi5leGFtcGxlLnRlc3SCEWJhZAEuZXhhbXBsZS50ZXN0hgt1cm46eDphImJc"
    "Y4ERdXNlckBleGFtcGxlLnRlc3SHBH8AAAGCEWRlbH8uZXhhbXBsZS50ZXN0hi11cm46"
    "dXVpZDo2ZThiYzQzMC05YzNhLTExZDktOTY2OS0wODAwMjAwYzlhNjaCDiouZXhhbXBs"
    "ZS50ZXN0MAoGCCqGSM49BAMCA0kAMEYCIQCSn7aZvkdGR+PHRQThWgW6NtKrAEWrUZMc"
    "ykXNx2DSNAIhAKcQ/P53SGhVsAzKOg0CFue0mv92aIJH/YN+rxWS7Z/8";

static const char FIXED_LEAF_SUBJECT[] =
    "CN=Jos\303\251 \346\227\245\346\234\254 \\+=\\<\\>#,OU=ctl\\01here,O"
    "=Smith\\, Jones\\; \\\"Partners\\\" \\\\ Co,C=FR";

static const char FIXED_LEAF_XFCC[] =
    "Hash=09d2030afa91fde9419d08dae9337c1f55f649145210fbfc5258395d4a5626f"
    "e;Cert=\"-----BEGIN%20CERTIFICATE-----%0AMIICijCCAi%2BgAwIBAgIUeDvT%"
    "2BIzo%2FEb52rsLGbvjRXxlB2QwCgYIKoZIzj0EAwIw%0APDEaMBgGA1UECgwRbW9kX2"
    "NlcnRtYXAgdGVzdHMxHjAcBgNVBAMMFWZ3ZCB0ZXN0%0AIGludGVybWVkaWF0ZTAgFw0"
    "yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAwMFow%0AZTELMAkGA1UEBhMCRlIxJjAk"
    "BgNVBAoMHVNtaXRoLCBKb25lczsgIlBhcnRuZXJz%0AIiBcIENvMREwDwYDVQQLDAhjd"
    "GwBaGVyZTEbMBkGA1UEAwwSSm9zw6kg5pel5pys%0AICs9PD4jMFkwEwYHKoZIzj0CAQ"
    "YIKoZIzj0DAQcDQgAE5qlXMnGzpCu9lDf5FgqM%0AVzDi5J4Pv%2F%2BrZrbsOgqdD7P"
    "%2F5q6dbCfuCB2h1kvBw0d4oi4qse25IV3eTYi9Bw7C%0AMaOB4zCB4DAMBgNVHRMBAf"
    "8EAjAAMIHPBgNVHREEgccwgcSGJGh0dHBzOi8vYXBw%0ALmV4YW1wbGUudGVzdC9wP2E"
    "9MTtiPTIsY4IRbGVhZi5leGFtcGxlLnRlc3SCEWJh%0AZAEuZXhhbXBsZS50ZXN0hgt1"
    "cm46eDphImJcY4ERdXNlckBleGFtcGxlLnRlc3SH%0ABH8AAAGCEWRlbH8uZXhhbXBsZ"
    "S50ZXN0hi11cm46dXVpZDo2ZThiYzQzMC05YzNh%0ALTExZDktOTY2OS0wODAwMjAwYz"
    "lhNjaCDiouZXhhbXBsZS50ZXN0MAoGCCqGSM49%0ABAMCA0kAMEYCIQCSn7aZvkdGR%2"
    "BPHRQThWgW6NtKrAEWrUZMcykXNx2DSNAIhAKcQ%0A%2FP53SGhVsAzKOg0CFue0mv92"
    "aIJH%2FYN%2BrxWS7Z%2F8%0A-----END%20CERTIFICATE-----%0A\";Chain=\"--"
    "---BEGIN%20CERTIFICATE-----%0AMIICijCCAi%2BgAwIBAgIUeDvT%2BIzo%2FEb5"
    "2rsLGbvjRXxlB2QwCgYIKoZIzj0EAwIw%0APDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgd"
    "GVzdHMxHjAcBgNVBAMMFWZ3ZCB0ZXN0%0AIGludGVybWVkaWF0ZTAgFw0yNDAxMDEwMD"
    "AwMDBaGA8yMDU0MDEwMTAwMDAwMFow%0AZTELMAkGA1UEBhMCRlIxJjAkBgNVBAoMHVN"
    "taXRoLCBKb25lczsgIlBhcnRuZXJz%0AIiBcIENvMREwDwYDVQQLDAhjdGwBaGVyZTEb"
    "MBkGA1UEAwwSSm9zw6kg5pel5pys%0AICs9PD4jMFkwEwYHKoZIzj0CAQYIKoZIzj0DA"
    "QcDQgAE5qlXMnGzpCu9lDf5FgqM%0AVzDi5J4Pv%2F%2BrZrbsOgqdD7P%2F5q6dbCfu"
    "CB2h1kvBw0d4oi4qse25IV3eTYi9Bw7C%0AMaOB4zCB4DAMBgNVHRMBAf8EAjAAMIHPB"
    "gNVHREEgccwgcSGJGh0dHBzOi8vYXBw%0ALmV4YW1wbGUudGVzdC9wP2E9MTtiPTIsY4"
    "IRbGVhZi5leGFtcGxlLnRlc3SCEWJh%0AZAEuZXhhbXBsZS50ZXN0hgt1cm46eDphImJ"
    "cY4ERdXNlckBleGFtcGxlLnRlc3SH%0ABH8AAAGCEWRlbH8uZXhhbXBsZS50ZXN0hi11"
    "cm46dXVpZDo2ZThiYzQzMC05YzNh%0ALTExZDktOTY2OS0wODAwMjAwYzlhNjaCDiouZ"
    "XhhbXBsZS50ZXN0MAoGCCqGSM49%0ABAMCA0kAMEYCIQCSn7aZvkdGR%2BPHRQThWgW6"
    "NtKrAEWrUZMcykXNx2DSNAIhAKcQ%0A%2FP53SGhVsAzKOg0CFue0mv92aIJH%2FYN%2"
    "BrxWS7Z%2F8%0A-----END%20CERTIFICATE-----%0A-----BEGIN%20CERTIFICATE"
    "-----%0AMIIBbDCCARGgAwIBAgIUUxEe%2FVdn6hTZEErvLiVUzmZ%2Fm0cwCgYIKoZI"
    "zj0EAwIw%0AGDEWMBQGA1UEAwwNZndkIHRlc3Qgcm9vdDAgFw0yNDAxMDEwMDAwMDBaG"
    "A8yMDU0%0AMDEwMTAwMDAwMFowPDEaMBgGA1UECgwRbW9kX2NlcnRtYXAgdGVzdHMxHj"
    "AcBgNV%0ABAMMFWZ3ZCB0ZXN0IGludGVybWVkaWF0ZTBZMBMGByqGSM49AgEGCCqGSM4"
    "9AwEH%0AA0IABO%2BbODiHsmyJoLCc%2BUwkQ2Cj4GFM4vgfUJY3ilX1nkbjf1ZarlsK"
    "ZeT5GFMJ%0ABFJbV7u%2FLHXOeu2g48ghAVTrGKKjEzARMA8GA1UdEwEB%2FwQFMAMBA"
    "f8wCgYIKoZI%0Azj0EAwIDSQAwRgIhANAWny8Iwm%2BJKNUnZ6NcPnfSRcPz34277MPI"
    "q6hj6I0KAiEA%0Au4mTlAcBJrgi1d0EVtjdU%2B64npzzaCfUNytxwCfZuJM%3D%0A--"
    "---END%20CERTIFICATE-----%0A\";Subject=\"CN=Jos\303\251 \346\227\245"
    "\346\234\254 \\\\+=\\\\<\\\\>#,OU=ctl\\\\01here,O=Smith\\\\, Jones\\"
    "\\; \\\\\\\"Partners\\\\\\\" \\\\\\\\ Co,C=FR\";URI=\"https://app.ex"
    "ample.test/p?a=1;b=2,c\";URI=\"urn:x:a\\\"b\\\\c\";URI=urn:uuid:6e8b"
    "c430-9c3a-11d9-9669-0800200c9a66;DNS=leaf.example.test;DNS=*.example"
    ".test";

static const char FIXED_PLAIN_XFCC[] =
    "Hash=96d863a7725a6a7ffb4bbfc216cbc96097fce9a60404745bfb3fff066fb1cf9"
    "a;Cert=\"-----BEGIN%20CERTIFICATE-----%0AMIIBMjCB2qADAgECAhQHNLIzV7F"
    "CK416fHo9cc04WPgPtDAKBggqhkjOPQQDAjAQ%0AMQ4wDAYDVQQDDAVwbGFpbjAgFw0y"
    "NDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAw%0AMFowEDEOMAwGA1UEAwwFcGxhaW4wW"
    "TATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARR%0AARNBYnodi415Ni4WfxiVoYufnjKT0V"
    "ym7WlhBUQINO3ujFA7NnpcA6qBPJq7jmIv%0Ap79qfVnMHdLPIK%2Fdo0DjoxAwDjAMB"
    "gNVHRMBAf8EAjAAMAoGCCqGSM49BAMCA0cA%0AMEQCIA1DbB3ayjIEAsaKW62C52lZ1h"
    "2%2F%2FmMueeTSmpygFTezAiA2IMrdH%2FgmR9uA%0AZAD0YyOQvl9Td1G9YxYJAtguW"
    "V8BtA%3D%3D%0A-----END%20CERTIFICATE-----%0A\";Chain=\"-----BEGIN%20"
    "CERTIFICATE-----%0AMIIBMjCB2qADAgECAhQHNLIzV7FCK416fHo9cc04WPgPtDAKB"
    "ggqhkjOPQQDAjAQ%0AMQ4wDAYDVQQDDAVwbGFpbjAgFw0yNDAxMDEwMDAwMDBaGA8yMD"
    "U0MDEwMTAwMDAw%0AMFowEDEOMAwGA1UEAwwFcGxhaW4wWTATBgcqhkjOPQIBBggqhkj"
    "OPQMBBwNCAARR%0AARNBYnodi415Ni4WfxiVoYufnjKT0Vym7WlhBUQINO3ujFA7Nnpc"
    "A6qBPJq7jmIv%0Ap79qfVnMHdLPIK%2Fdo0DjoxAwDjAMBgNVHRMBAf8EAjAAMAoGCCq"
    "GSM49BAMCA0cA%0AMEQCIA1DbB3ayjIEAsaKW62C52lZ1h2%2F%2FmMueeTSmpygFTez"
    "AiA2IMrdH%2FgmR9uA%0AZAD0YyOQvl9Td1G9YxYJAtguWV8BtA%3D%3D%0A-----END"
    "%20CERTIFICATE-----%0A\";Subject=\"CN=plain\"";

static const char FIXED_PLAIN_ARR[] =
    "MIIBMjCB2qADAgECAhQHNLIzV7FCK416fHo9cc04WPgPtDAKBggqhkjOPQQDAjAQMQ4w"
    "DAYDVQQDDAVwbGFpbjAgFw0yNDAxMDEwMDAwMDBaGA8yMDU0MDEwMTAwMDAwMFowEDEO"
    "MAwGA1UEAwwFcGxhaW4wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARRARNBYnodi415"
    "Ni4WfxiVoYufnjKT0Vym7WlhBUQINO3ujFA7NnpcA6qBPJq7jmIvp79qfVnMHdLPIK/d"
    "o0DjoxAwDjAMBgNVHRMBAf8EAjAAMAoGCCqGSM49BAMCA0cAMEQCIA1DbB3ayjIEAsaK"
    "W62C52lZ1h2//mMueeTSmpygFTezAiA2IMrdH/gmR9uAZAD0YyOQvl9Td1G9YxYJAtgu"
    "WV8BtA==";

/* ------------------------------------------------------------------ */
/* Helpers, independent of the engine                                 */

/* ck_assert_str_eq() for values of several KB, which Check cannot put
 * in one message: names the first difference and shows a little of it. */
#define ASSERT_SAME(got, want) assert_same(got, want, #got)

static void assert_same(const char *got, const char *want, const char *what)
{
    apr_size_t i = 0;

    ck_assert_msg(got != NULL, "%s is NULL", what);
    while (got[i] && got[i] == want[i]) {
        i++;
    }
    ck_assert_msg(got[i] == want[i],
                  "%s differs at byte %lu of %lu: \"%.40s\" instead of "
                  "\"%.40s\"",
                  what, (unsigned long)i, (unsigned long)strlen(want), got + i,
                  want + i);
}

/* DER of a PEM certificate, read with OpenSSL's X509 reader. */
static certmap_der_t der_of(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    unsigned char *der = NULL;
    int len;
    certmap_der_t out;

    ck_assert_ptr_nonnull(x);
    len = i2d_X509(x, &der);
    ck_assert_int_gt(len, 0);
    out.data = apr_pmemdup(test_pool, der, (apr_size_t)len);
    out.len = (apr_size_t)len;
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    return out;
}

static certmap_der_t der_of_fx(const fx_cert_t *c)
{
    certmap_der_t d;

    d.data = c->der;
    d.len = c->der_len;
    return d;
}

static apr_array_header_t *chain_of(int n, ...)
{
    apr_array_header_t *a = apr_array_make(test_pool, n, sizeof(certmap_der_t));
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(a, certmap_der_t) = va_arg(ap, certmap_der_t);
    }
    va_end(ap);
    return a;
}

/* APR's base64 (the engine uses OpenSSL's EVP_EncodeBlock). */
static const char *b64(const certmap_der_t *d)
{
    char *out = apr_palloc(test_pool, apr_base64_encode_len((int)d->len));

    apr_base64_encode_binary(out, d->data, (int)d->len);
    return out;
}

static void assert_b64_decodes_to(const char *s, const certmap_der_t *d)
{
    unsigned char *out = apr_palloc(test_pool, apr_base64_decode_len(s));
    int n = apr_base64_decode_binary(out, s);

    ck_assert_int_eq(n, (int)d->len);
    ck_assert_mem_eq(out, d->data, d->len);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1; /* lower-case hex is not what the header promises */
}

/* Percent-decoding as Tomcat's UDecoder does it ('+' stays '+'), and a
 * check that only RFC 3986 unreserved characters were left unescaped. */
static const char *url_decode(const char *s)
{
    char *out = apr_palloc(test_pool, strlen(s) + 1), *o = out;

    for (; *s; s++) {
        if (*s == '%') {
            int hi = hexval(s[1]), lo = hi < 0 ? -1 : hexval(s[2]);
            ck_assert_msg(hi >= 0 && lo >= 0, "bad escape at \"%.8s\"", s);
            *o++ = (char)(hi * 16 + lo);
            s += 2;
        }
        else {
            ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                 "opqrstuvwxyz0123456789-._~",
                                 *s)
                              != NULL,
                          "unescaped '%c' in a URL-escaped value", *s);
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* Every value the module sends must be free of control bytes. */
static const char *encode(certmap_fwd_format_e f, const certmap_der_t *leaf,
                          const apr_array_header_t *chain)
{
    const char *value = NULL;

    ASSERT_OK(certmap_fwd_encode(test_pool, f, leaf, chain, &value));
    ck_assert_ptr_nonnull(value);
    ck_assert_msg(!fx_has_control_char(value), "control byte in %s value",
                  certmap_fwd_format_name(f));
    return value;
}

static const char *encode_chain(const apr_array_header_t *chain)
{
    const char *value = "unset";

    ASSERT_OK(certmap_fwd_encode_chain(test_pool, chain, &value));
    if (value != NULL) {
        ck_assert_msg(!fx_has_control_char(value), "control byte in chain");
    }
    return value;
}

/* The value of `key=` in an xfcc element whose keys are in a known
 * order: the text between "key=" and the next ';' outside quotes. */
static const char *xfcc_field(const char *xfcc, const char *key)
{
    const char *s = xfcc, *start, *e;
    apr_size_t klen = strlen(key);
    int quoted = 0;

    for (;;) {
        if (strncmp(s, key, klen) == 0 && s[klen] == '=') {
            break;
        }
        for (; *s && (quoted || *s != ';'); s++) {
            if (*s == '\\' && quoted) {
                s++;
            }
            else if (*s == '"') {
                quoted = !quoted;
            }
        }
        if (*s == '\0') {
            return NULL;
        }
        s++;
    }
    start = e = s + klen + 1;
    for (quoted = 0; *e && (quoted || *e != ';'); e++) {
        if (*e == '\\' && quoted) {
            e++;
        }
        else if (*e == '"') {
            quoted = !quoted;
        }
    }
    return apr_pstrmemdup(test_pool, start, (apr_size_t)(e - start));
}

/* A value between double quotes, with \x read as x. */
static const char *unquote(const char *v)
{
    apr_size_t n = strlen(v);
    char *out = apr_palloc(test_pool, n + 1), *o = out;
    const char *s;

    ck_assert_msg(n >= 2 && v[0] == '"' && v[n - 1] == '"', "not quoted: %s",
                  v);
    for (s = v + 1; s < v + n - 1; s++) {
        if (*s == '\\') {
            s++;
        }
        else {
            ck_assert_msg(*s != '"', "unescaped quote inside %s", v);
        }
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* A certificate made here, for names fixtures.c cannot make: subject
 * entries given as (field, ASN.1 type, bytes, length), raw SANs. */
typedef struct name_entry {
    const char *field;
    int type; /* V_ASN1_UTF8STRING ...: bytes stored as given */
    const char *bytes;
    int len;
} name_entry;

typedef struct san_entry {
    int type; /* GEN_DNS, GEN_URI, GEN_EMAIL */
    const char *bytes;
    int len;
} san_entry;

static apr_status_t free_x509(void *x)
{
    X509_free(x);
    return APR_SUCCESS;
}

static certmap_der_t make_cert(const name_entry *names, int nnames,
                               const san_entry *sans, int nsans)
{
    X509 *x = X509_new();
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_NAME *name = X509_NAME_new();
    unsigned char *der = NULL;
    certmap_der_t out;
    int i, len;

    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(key);
    apr_pool_cleanup_register(test_pool, x, free_x509, apr_pool_cleanup_null);
    ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
    ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    for (i = 0; i < nnames; i++) {
        ck_assert_int_eq(
            X509_NAME_add_entry_by_txt(name, names[i].field, names[i].type,
                                       (const unsigned char *)names[i].bytes,
                                       names[i].len, -1, 0),
            1);
    }
    ck_assert_int_eq(X509_set_subject_name(x, name), 1);
    ck_assert_int_eq(X509_set_issuer_name(x, name), 1);
    X509_NAME_free(name);
    if (nsans > 0) {
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

        for (i = 0; i < nsans; i++) {
            GENERAL_NAME *gen = GENERAL_NAME_new();
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();

            ck_assert_int_eq(ASN1_STRING_set(s, sans[i].bytes, sans[i].len), 1);
            GENERAL_NAME_set0_value(gen, sans[i].type, s);
            sk_GENERAL_NAME_push(gens, gen);
        }
        ck_assert_int_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                           X509V3_ADD_DEFAULT),
                         1);
        GENERAL_NAMES_free(gens);
    }
    ck_assert_int_eq(X509_set_pubkey(x, key), 1);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    EVP_PKEY_free(key);
    len = i2d_X509(x, &der);
    ck_assert_int_gt(len, 0);
    out.data = apr_pmemdup(test_pool, der, (apr_size_t)len);
    out.len = (apr_size_t)len;
    OPENSSL_free(der);
    return out;
}

/* The certificate with the first occurrence of `from` replaced by `to`
 * (same length): how names OpenSSL will not build (invalid UTF-8, half
 * a surrogate pair) get into a certificate.  The signature no longer
 * matches, which no encoder looks at. */
static certmap_der_t patch_der(certmap_der_t d, const char *from,
                               const char *to, apr_size_t len)
{
    unsigned char *copy = apr_pmemdup(test_pool, d.data, d.len);
    unsigned char *at = memmem(copy, d.len, from, len);

    ck_assert_ptr_nonnull(at);
    memcpy(at, to, len);
    d.data = copy;
    return d;
}

/* The fixture certificate's PEM text with newlines as spaces, trimmed:
 * what the pem format must give. */
static const char *one_line(const char *pem)
{
    char *s = apr_pstrdup(test_pool, pem), *c;
    apr_size_t n;

    for (c = s; *c; c++) {
        if (*c == '\n') {
            *c = ' ';
        }
    }
    n = strlen(s);
    while (n > 0 && s[n - 1] == ' ') {
        s[--n] = '\0';
    }
    return s;
}

/* PEM text read back with OpenSSL; must be the expected DER. */
static void assert_pem_is(const char *pem, const certmap_der_t *d)
{
    certmap_der_t got = der_of(pem);

    ck_assert_uint_eq(got.len, d->len);
    ck_assert_mem_eq(got.data, d->data, d->len);
}

/* ------------------------------------------------------------------ */
/* Fixed certificates                                                 */

START_TEST(fixed_rfc9440)
{
    certmap_der_t leaf = der_of(FIXED_LEAF_PEM);
    certmap_der_t inter = der_of(FIXED_INTER_PEM);
    certmap_der_t root = der_of(FIXED_ROOT_PEM);

    ASSERT_SAME(encode(CERTMAP_FWD_RFC9440, &leaf, NULL), FIXED_LEAF_RFC9440);
    /* The chain does not change Client-Cert. */
    ASSERT_SAME(encode(CERTMAP_FWD_RFC9440, &leaf, chain_of(1, inter)),
                FIXED_LEAF_RFC9440);
    ASSERT_SAME(encode_chain(chain_of(1, inter)), FIXED_CHAIN_RFC9440);
    ASSERT_SAME(encode_chain(chain_of(2, inter, root)), FIXED_CHAIN2_RFC9440);
}
END_TEST

START_TEST(fixed_tomcat_pem_arr)
{
    certmap_der_t leaf = der_of(FIXED_LEAF_PEM);
    certmap_der_t plain = der_of(FIXED_PLAIN_PEM);

    ASSERT_SAME(encode(CERTMAP_FWD_TOMCAT, &leaf, NULL), FIXED_LEAF_TOMCAT);
    ASSERT_SAME(encode(CERTMAP_FWD_PEM, &leaf, NULL), FIXED_LEAF_PEM1);
    ASSERT_SAME(encode(CERTMAP_FWD_ARR, &leaf, NULL), FIXED_LEAF_ARR);
    ASSERT_SAME(encode(CERTMAP_FWD_ARR, &plain, NULL), FIXED_PLAIN_ARR);
}
END_TEST

START_TEST(fixed_xfcc)
{
    certmap_der_t leaf = der_of(FIXED_LEAF_PEM);
    certmap_der_t inter = der_of(FIXED_INTER_PEM);
    certmap_der_t plain = der_of(FIXED_PLAIN_PEM);
    const char *v = encode(CERTMAP_FWD_XFCC, &leaf, chain_of(1, inter));

    ASSERT_SAME(v, FIXED_LEAF_XFCC);
    /* Read back the way a backend would. */
    ASSERT_SAME(unquote(xfcc_field(v, "Subject")), FIXED_LEAF_SUBJECT);
    ASSERT_SAME(url_decode(unquote(xfcc_field(v, "Cert"))), FIXED_LEAF_PEM);
    ASSERT_SAME(url_decode(unquote(xfcc_field(v, "Chain"))),
                apr_pstrcat(test_pool, FIXED_LEAF_PEM, FIXED_INTER_PEM, NULL));
    /* Neither the DNS name with a control byte nor the one with DEL. */
    ck_assert_ptr_null(strstr(v, "bad"));
    ck_assert_ptr_null(strstr(v, "del"));
    /* No SAN, no chain: Chain is the leaf alone, no URI=/DNS=. */
    v = encode(CERTMAP_FWD_XFCC, &plain, NULL);
    ASSERT_SAME(v, FIXED_PLAIN_XFCC);
    ck_assert_ptr_null(strstr(v, "URI="));
    ck_assert_ptr_null(strstr(v, "DNS="));
    ASSERT_SAME(encode(CERTMAP_FWD_XFCC, &plain,
                       apr_array_make(test_pool, 0, sizeof(certmap_der_t))),
                FIXED_PLAIN_XFCC);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Certificates made at run time                                      */

START_TEST(rfc9440_through_intermediate)
{
    fx_cert_t *root = fx_cert_simple(test_pool, "Root CA");
    fx_cert_t *inter =
        fx_cert_make(test_pool, "Intermediate CA", -60, 86400, root);
    fx_cert_t *leaf = fx_cert_make(test_pool, "client", -60, 86400, inter);
    certmap_der_t l = der_of_fx(leaf), i = der_of_fx(inter),
                  r = der_of_fx(root);
    const char *v = encode(CERTMAP_FWD_RFC9440, &l, chain_of(1, i));
    apr_size_t n = strlen(v);

    ck_assert_str_eq(v, apr_pstrcat(test_pool, ":", b64(&l), ":", NULL));
    ck_assert(n > 2 && v[0] == ':' && v[n - 1] == ':');
    assert_b64_decodes_to(apr_pstrmemdup(test_pool, v + 1, n - 2), &l);
    ck_assert_str_eq(encode_chain(chain_of(1, i)),
                     apr_pstrcat(test_pool, ":", b64(&i), ":", NULL));
    ck_assert_str_eq(
        encode_chain(chain_of(2, i, r)),
        apr_pstrcat(test_pool, ":", b64(&i), ":, :", b64(&r), ":", NULL));
}
END_TEST

START_TEST(rfc9440_empty_chain_is_no_header)
{
    const char *v = "unset";

    ASSERT_OK(certmap_fwd_encode_chain(test_pool, NULL, &v));
    ck_assert_ptr_null(v);
    v = "unset";
    ASSERT_OK(certmap_fwd_encode_chain(
        test_pool, apr_array_make(test_pool, 0, sizeof(certmap_der_t)), &v));
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(tomcat_is_url_escaped_pem)
{
    fx_cert_t *ca = fx_cert_simple(test_pool, "CA");
    fx_cert_t *c = fx_cert_make(test_pool, "tomcat user", -60, 86400, ca);
    certmap_der_t d = der_of_fx(c), back;
    const char *v = encode(CERTMAP_FWD_TOMCAT, &d, NULL);
    const char *pem = url_decode(v);

    /* Exactly PEM_write_bio_X509's text, final newline included. */
    ASSERT_SAME(pem, c->pem);
    ck_assert_ptr_nonnull(strstr(v, "-----BEGIN%20CERTIFICATE-----%0A"));
    ck_assert_ptr_nonnull(strstr(v, "%0A-----END%20CERTIFICATE-----%0A"));
    ck_assert_ptr_null(strchr(v, '+'));
    ck_assert_ptr_null(strchr(v, '/'));
    ck_assert_ptr_null(strchr(v, '='));
    ck_assert_ptr_null(strchr(v, ' '));
    ASSERT_OK(certmap_fwd_pem_to_der(test_pool, pem, strlen(pem), &back));
    ck_assert_uint_eq(back.len, d.len);
    ck_assert_mem_eq(back.data, d.data, d.len);
}
END_TEST

/* Old SSLValves rebuild the PEM from SSL_CLIENT_CERT by turning spaces
 * back into newlines between fixed offsets. */
START_TEST(pem_survives_old_sslvalve)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "old valve");
    certmap_der_t d = der_of_fx(c);
    const char *v = encode(CERTMAP_FWD_PEM, &d, NULL);
    apr_size_t n = strlen(v);
    char *nl = apr_pstrdup(test_pool, v), *s;
    const char *body;

    ASSERT_SAME(v, one_line(c->pem));
    ck_assert_ptr_null(strchr(v, '\n'));
    ck_assert(v[n - 1] != ' ');
    for (s = nl; *s; s++) {
        if (*s == ' ') {
            *s = '\n';
        }
    }
    /* Tomcat's SSLValve: substring(28, len - 26) between its own lines. */
    body = apr_pstrmemdup(test_pool, nl + 28, n - 26 - 28);
    assert_pem_is(apr_pstrcat(test_pool, "-----BEGIN CERTIFICATE-----\n", body,
                              "\n-----END CERTIFICATE-----\n", NULL),
                  &d);
    /* The variant that keeps the separators: substring(27, len - 25). */
    body = apr_pstrmemdup(test_pool, nl + 27, n - 25 - 27);
    ck_assert(body[0] == '\n' && body[strlen(body) - 1] == '\n');
    assert_pem_is(apr_pstrcat(test_pool, "-----BEGIN CERTIFICATE-----", body,
                              "-----END CERTIFICATE-----", NULL),
                  &d);
}
END_TEST

START_TEST(arr_is_plain_base64)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "arr");
    certmap_der_t d = der_of_fx(c);
    const char *v = encode(CERTMAP_FWD_ARR, &d, NULL);

    ASSERT_SAME(v, b64(&d));
    ck_assert_ptr_null(strchr(v, '\n'));
    ck_assert_ptr_null(strchr(v, ' '));
    assert_b64_decodes_to(v, &d);
}
END_TEST

/* Sizes around the base64 and 64-column boundaries: any bytes encode
 * (only xfcc parses the certificate). */
START_TEST(any_length_encodes)
{
    unsigned char buf[200];
    apr_size_t n;

    for (n = 0; n < sizeof(buf); n++) {
        buf[n] = (unsigned char)(n * 37 + 11);
    }
    for (n = 1; n <= sizeof(buf); n++) {
        certmap_der_t d = {buf, n};
        const char *a = encode(CERTMAP_FWD_ARR, &d, NULL);
        const char *r = encode(CERTMAP_FWD_RFC9440, &d, NULL);
        const char *t = url_decode(encode(CERTMAP_FWD_TOMCAT, &d, NULL));
        const char *pem = encode(CERTMAP_FWD_PEM, &d, NULL);
        apr_size_t blen = strlen(a), lines = (blen + 63) / 64;

        ck_assert_str_eq(a, b64(&d));
        ck_assert_str_eq(r, apr_pstrcat(test_pool, ":", a, ":", NULL));
        ck_assert_uint_eq(strlen(t), 28 + blen + lines + 26);
        ck_assert_uint_eq(strlen(pem), 28 + blen + lines + 25);
        ck_assert(strncmp(t, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
        ck_assert_str_eq(t + strlen(t) - 26, "-----END CERTIFICATE-----\n");
        ck_assert_str_eq(pem + strlen(pem) - 26, " -----END CERTIFICATE-----");
    }
}
END_TEST

START_TEST(xfcc_through_intermediate)
{
    fx_cert_t *root = fx_cert_simple(test_pool, "Root CA");
    fx_cert_t *inter =
        fx_cert_make(test_pool, "Intermediate CA", -60, 86400, root);
    fx_cert_t *leaf = fx_cert_make(test_pool, "client", -60, 86400, inter);
    certmap_der_t l = der_of_fx(leaf), i = der_of_fx(inter),
                  r = der_of_fx(root);
    const char *v = encode(CERTMAP_FWD_XFCC, &l, chain_of(2, i, r));

    ck_assert_str_eq(xfcc_field(v, "Hash"),
                     fx_hex(test_pool, leaf->sha256, CERTMAP_SHA256_LEN, 0, 0));
    ASSERT_SAME(url_decode(unquote(xfcc_field(v, "Cert"))), leaf->pem);
    ASSERT_SAME(url_decode(unquote(xfcc_field(v, "Chain"))),
                apr_pstrcat(test_pool, leaf->pem, inter->pem, root->pem, NULL));
    ck_assert_str_eq(xfcc_field(v, "Subject"),
                     "\"CN=client,O=mod_certmap tests\"");
    ck_assert(strncmp(v, "Hash=", 5) == 0);
    ck_assert_ptr_nonnull(strstr(v, "\";Chain=\""));
    ck_assert_ptr_null(xfcc_field(v, "URI"));
    ck_assert_ptr_null(xfcc_field(v, "DNS"));
}
END_TEST

/* Names with a control byte, DEL, a byte >= 0x80 or nothing at all are
 * dropped; the others keep their order, quoted when they must be. */
START_TEST(xfcc_sans)
{
    static const name_entry cn[] = {{"CN", MBSTRING_UTF8, "sans", 4}};
    static const san_entry sans[] = {
        {GEN_DNS, "a.example.test", 14},
        {GEN_URI, "spiffe://example.test/ns/a", 26},
        {GEN_DNS, "ctl\r\n.example.test", 18},
        {GEN_DNS, "nul\0.example.test", 17},
        {GEN_URI, "https://x.test/\x7f", 16},
        {GEN_DNS, "high\xff.example.test", 18},
        {GEN_URI, "https://h\xc3\xa9.test/", 18},
        {GEN_DNS, "", 0},
        {GEN_EMAIL, "user@example.test", 17},
        {GEN_URI, "https://q.test/?a=1,b=\"2\";c=\\", 29},
        {GEN_DNS, "b.example.test", 14},
        {GEN_URI, "urn:with space", 14},
    };
    certmap_der_t d = make_cert(cn, 1, sans, sizeof(sans) / sizeof(sans[0]));
    const char *v = encode(CERTMAP_FWD_XFCC, &d, NULL);
    const char *tail = strstr(v, ";URI=");

    ck_assert_ptr_nonnull(tail);
    ck_assert_str_eq(tail, ";URI=spiffe://example.test/ns/a"
                           ";URI=\"https://q.test/?a=1,b=\\\"2\\\";c=\\\\\""
                           ";URI=\"urn:with space\""
                           ";DNS=a.example.test;DNS=b.example.test");
    ck_assert_ptr_null(strstr(v, "user@"));
}
END_TEST

/* The subject keeps UTF-8 and RFC 2253 escapes, is always quoted, and
 * a '"' or '\' in it cannot end the value. */
START_TEST(xfcc_subject_specials)
{
    static const name_entry names[] = {
        {"O", MBSTRING_UTF8, "a,b;c\"d\\e", 9},
        {"CN", MBSTRING_UTF8, "Jos\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 12},
    };
    certmap_der_t d = make_cert(names, 2, NULL, 0);
    const char *v = encode(CERTMAP_FWD_XFCC, &d, NULL);
    const char *subject = xfcc_field(v, "Subject");

    /* RFC 2253: CN=José 日本,O=a\,b\;c\"d\\e; then Envoy's quoting. */
    ck_assert_str_eq(unquote(subject), "CN=Jos\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"
                                       ",O=a\\,b\\;c\\\"d\\\\e");
    ck_assert_str_eq(subject, "\"CN=Jos\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"
                              ",O=a\\\\,b\\\\;c\\\\\\\"d\\\\\\\\e\"");
    /* Nothing follows the subject: it did not end early. */
    ck_assert_str_eq(strstr(v, ";Subject="),
                     apr_pstrcat(test_pool, ";Subject=", subject, NULL));
}
END_TEST

/* Controls in the subject, whatever their encoding, become \XX. */
START_TEST(xfcc_subject_controls)
{
    static const name_entry names[] = {
        /* C0, DEL, C1 NEL (U+0085), RIGHT-TO-LEFT OVERRIDE (U+202E) */
        {"CN", MBSTRING_UTF8,
         "a\r\nb\x7f"
         "c\xc2\x85"
         "d\xe2\x80\xae"
         "e",
         13},
        /* A T61String is read as Latin-1: 0x85 is NEL, 0xe9 is U+00E9. */
        {"OU", V_ASN1_T61STRING, "x\x85y\xe9", 4},
    };
    certmap_der_t d = make_cert(names, 2, NULL, 0);
    const char *v = encode(CERTMAP_FWD_XFCC, &d, NULL);

    ck_assert_str_eq(unquote(xfcc_field(v, "Subject")),
                     "OU=x\\C2\\85y\xc3\xa9,"
                     "CN=a\\0D\\0Ab\\7Fc\\C2\\85d\\E2\\80\\AEe");
}
END_TEST

/* Names OpenSSL cannot convert to UTF-8 (a UTF8String that is not UTF-8,
 * a BMPString with half a surrogate pair) make the whole certificate
 * unparsable for OpenSSL, mod_ssl included: xfcc refuses it cleanly. */
START_TEST(xfcc_subject_unconvertible)
{
    static const name_entry utf8[] = {{"CN", V_ASN1_UTF8STRING, "xQy", 3}};
    static const name_entry bmp[] = {
        {"CN", V_ASN1_BMPSTRING, "\x00\x41\x00\x42", 4}};
    certmap_der_t d;
    const char *v, *err;

    d = patch_der(make_cert(utf8, 1, NULL, 0), "\x0c\x03xQy", "\x0c\x03x\xffy",
                  5);
    ASSERT_ERROR(err,
                 certmap_fwd_encode(test_pool, CERTMAP_FWD_XFCC, &d, NULL, &v));
    ck_assert_int_eq(ERR_peek_error(), 0);
    /* The other formats do not read the certificate. */
    ck_assert_str_eq(encode(CERTMAP_FWD_ARR, &d, NULL), b64(&d));
    d = patch_der(make_cert(bmp, 1, NULL, 0), "\x1e\x04\x00\x41\x00\x42",
                  "\x1e\x04\x00\x41\xd8\x00", 6);
    ASSERT_ERROR(err,
                 certmap_fwd_encode(test_pool, CERTMAP_FWD_XFCC, &d, NULL, &v));
    ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(xfcc_empty_subject_left_out)
{
    certmap_der_t d = make_cert(NULL, 0, NULL, 0);
    const char *v = encode(CERTMAP_FWD_XFCC, &d, NULL);

    ck_assert_ptr_null(strstr(v, "Subject"));
    ck_assert_ptr_nonnull(xfcc_field(v, "Chain"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                             */

START_TEST(encode_errors)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "errors");
    certmap_der_t good = der_of_fx(c), empty = {c->der, 0}, none = {NULL, 5};
    certmap_der_t trailing;
    const char *v, *err;
    int f;

    for (f = 0; f < CERTMAP_FWD_FORMAT_COUNT; f++) {
        v = "unset";
        ASSERT_ERROR(err, certmap_fwd_encode(test_pool, (certmap_fwd_format_e)f,
                                             NULL, NULL, &v));
        ck_assert_ptr_null(v);
        ASSERT_ERROR(err, certmap_fwd_encode(test_pool, (certmap_fwd_format_e)f,
                                             &empty, NULL, &v));
        ASSERT_ERROR(err, certmap_fwd_encode(test_pool, (certmap_fwd_format_e)f,
                                             &none, NULL, &v));
    }
    ASSERT_ERROR(err, certmap_fwd_encode(test_pool, CERTMAP_FWD_FORMAT_COUNT,
                                         &good, NULL, &v));
    ck_assert_ptr_null(v);

    /* xfcc reads the certificate: bytes that are not one are refused. */
    ASSERT_ERROR(err, certmap_fwd_encode(
                          test_pool, CERTMAP_FWD_XFCC,
                          &(certmap_der_t){(const unsigned char *)"hello", 5},
                          NULL, &v));
    ck_assert_ptr_nonnull(strstr(err, "X.509"));
    trailing.data =
        fx_concat(test_pool, c->der, c->der_len, "\0", 1, &trailing.len);
    ASSERT_ERROR(err, certmap_fwd_encode(test_pool, CERTMAP_FWD_XFCC, &trailing,
                                         NULL, &v));
    ck_assert_int_eq(ERR_peek_error(), 0);

    /* An empty chain element. */
    ASSERT_ERROR(err, certmap_fwd_encode(test_pool, CERTMAP_FWD_XFCC, &good,
                                         chain_of(2, good, empty), &v));
    ck_assert_ptr_nonnull(strstr(err, "certificate 2 of the chain"));
    v = "unset";
    ASSERT_ERROR(err,
                 certmap_fwd_encode_chain(test_pool, chain_of(1, empty), &v));
    ck_assert_ptr_null(v);
    /* An array of something else. */
    {
        apr_array_header_t *a = apr_array_make(test_pool, 1, sizeof(char *));

        APR_ARRAY_PUSH(a, const char *) = "not a certmap_der_t";
        ASSERT_ERROR(err, certmap_fwd_encode_chain(test_pool, a, &v));
    }
}
END_TEST

START_TEST(encode_refuses_huge)
{
    apr_size_t n = 1024 * 1024 + 1;
    unsigned char *buf = calloc(1, n);
    certmap_der_t d = {buf, n};
    const char *v, *err;

    ck_assert_ptr_nonnull(buf);
    ASSERT_ERROR(err,
                 certmap_fwd_encode(test_pool, CERTMAP_FWD_ARR, &d, NULL, &v));
    d.len = n - 1;
    ASSERT_OK(certmap_fwd_encode(test_pool, CERTMAP_FWD_ARR, &d, NULL, &v));
    ck_assert_uint_eq(strlen(v), 4 * ((n - 1 + 2) / 3));
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------ */
/* PEM to DER                                                         */

static void assert_der(const certmap_der_t *got, const fx_cert_t *c)
{
    ck_assert_uint_eq(got->len, c->der_len);
    ck_assert_mem_eq(got->data, c->der, c->der_len);
}

START_TEST(pem_to_der_as_mod_ssl_gives_it)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "pem");
    certmap_der_t d;
    /* An exact-size copy without a NUL: only `len` bytes may be read. */
    char *exact = malloc(c->pem_len);
    const char *err;

    ASSERT_OK(certmap_fwd_pem_to_der(test_pool, c->pem, c->pem_len, &d));
    assert_der(&d, c);
    ck_assert_ptr_nonnull(exact);
    memcpy(exact, c->pem, c->pem_len);
    err = certmap_fwd_pem_to_der(test_pool, exact, c->pem_len, &d);
    free(exact);
    ASSERT_OK(err);
    assert_der(&d, c);
    /* Text around the block, CRLF line ends. */
    {
        const char *crlf =
            apr_pstrcat(test_pool, "subject=...\r\n", c->pem, "\r\n\r\n", NULL);
        char *s = apr_palloc(test_pool, 2 * strlen(crlf) + 1), *o = s;
        const char *i;

        for (i = crlf; *i; i++) {
            if (*i == '\n' && (i == crlf || i[-1] != '\r')) {
                *o++ = '\r';
            }
            *o++ = *i;
        }
        *o = '\0';
        ASSERT_OK(certmap_fwd_pem_to_der(test_pool, s, strlen(s), &d));
        assert_der(&d, c);
    }
    ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(pem_to_der_refuses)
{
    fx_cert_t *c = fx_cert_simple(test_pool, "pem");
    fx_cert_t *c2 = fx_cert_simple(test_pool, "pem2");
    certmap_der_t d;
    const char *err, *s;

    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, NULL, 0, &d));
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, "", 0, &d));
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, "hello", 5, &d));
    ck_assert_int_eq(ERR_peek_error(), 0);
    /* Cut in the middle. */
    ASSERT_ERROR(err,
                 certmap_fwd_pem_to_der(test_pool, c->pem, c->pem_len / 2, &d));
    ck_assert_ptr_null(d.data);
    ck_assert_int_eq(ERR_peek_error(), 0);
    /* Two certificates. */
    s = apr_pstrcat(test_pool, c->pem, c2->pem, NULL);
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, s, strlen(s), &d));
    ck_assert_int_eq(ERR_peek_error(), 0);
    /* A key is not a certificate; the label is named. */
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, c->key_pem,
                                             strlen(c->key_pem), &d));
    ck_assert_ptr_nonnull(strstr(err, "PRIVATE KEY"));
    /* A CERTIFICATE block holding something else. */
    s = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n"
        "-----END CERTIFICATE-----\n";
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, s, strlen(s), &d));
    /* A label with a control byte is not echoed raw. */
    s = "-----BEGIN A\001B-----\naGVsbG8=\n-----END A\001B-----\n";
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, s, strlen(s), &d));
    /* The one-line pem format is not PEM. */
    s = one_line(c->pem);
    ASSERT_ERROR(err, certmap_fwd_pem_to_der(test_pool, s, strlen(s), &d));
    ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Header names                                                       */

START_TEST(header_fold)
{
    static const char *const same[][2] = {
        {"SSL_Client-Cert", "ssl-client-cert"},
        {"ssl-client-cert", "ssl-client-cert"},
        {"SSL_CLIENT_CERT", "ssl-client-cert"},
        {"X-ARR-ClientCert", "x-arr-clientcert"},
        {"Client-Cert-Chain", "client-cert-chain"},
        {"x", "x"},
        {"!#$%&'*+-.^_`|~09AZaz", "!#$%&'*+-.^-`|~09azaz"},
    };
    static const char *const bad[] = {
        "",    " ",    "a b", "a:b", "a\r\nb", "a\tb",  "(x)",      "a/b",
        "a@b", "a\"b", "a,b", "a;b", "a=b",    "a\x7f", "\xc3\xa9", "a\\b",
        "{x}", "[x]",  "a?b", "<x>", "a\x01",  " lead", "trail ",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        const char *f = certmap_fwd_header_fold(test_pool, same[i][0]);

        ck_assert_ptr_nonnull(f);
        ck_assert_str_eq(f, same[i][1]);
        ck_assert_str_eq(certmap_fwd_header_fold(test_pool, f), f);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(certmap_fwd_header_fold(test_pool, bad[i]) == NULL,
                      "bad[%d] folded", (int)i);
    }
    ck_assert_ptr_null(certmap_fwd_header_fold(test_pool, NULL));
}
END_TEST

static int in_family(const char *folded)
{
    int i;

    for (i = 0; certmap_fwd_scrub_family[i] != NULL; i++) {
        const char *f =
            certmap_fwd_header_fold(test_pool, certmap_fwd_scrub_family[i]);
        if (f != NULL && strcmp(f, folded) == 0) {
            return 1;
        }
    }
    return 0;
}

START_TEST(scrub_family)
{
    /* DESIGN.md section 5, folded by hand. */
    static const char *const required[] = {
        "client-cert",
        "client-cert-chain",
        "x-forwarded-client-cert",
        "ssl-client-cert",
        "ssl-client-escaped-cert",
        "x-arr-clientcert",
        "x-forwarded-tls-client-cert",
        "x-forwarded-tls-client-cert-info",
    };
    apr_size_t i;
    int j, k, n = 0;

    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        ck_assert_msg(in_family(required[i]), "%s is not scrubbed",
                      required[i]);
    }
    for (j = 0; certmap_fwd_scrub_family[j] != NULL; j++) {
        const char *f =
            certmap_fwd_header_fold(test_pool, certmap_fwd_scrub_family[j]);

        ck_assert_msg(f != NULL, "%s is not a header name",
                      certmap_fwd_scrub_family[j]);
        for (k = 0; k < j; k++) {
            ck_assert_str_ne(f, certmap_fwd_header_fold(
                                    test_pool, certmap_fwd_scrub_family[k]));
        }
        n++;
    }
    ck_assert_int_eq(n, (int)(sizeof(required) / sizeof(required[0])));
    for (j = 0; j < CERTMAP_FWD_FORMAT_COUNT; j++) {
        const char *h = certmap_fwd_default_header((certmap_fwd_format_e)j);

        ck_assert_ptr_nonnull(h);
        ck_assert_msg(in_family(certmap_fwd_header_fold(test_pool, h)),
                      "default header %s is not scrubbed", h);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Format names                                                       */

START_TEST(format_names)
{
    static const struct {
        const char *name;
        certmap_fwd_format_e format;
        const char *header;
    } known[] = {
        {"rfc9440", CERTMAP_FWD_RFC9440, "Client-Cert"},
        {"tomcat", CERTMAP_FWD_TOMCAT, "ssl_client_escaped_cert"},
        {"pem", CERTMAP_FWD_PEM, "SSL_CLIENT_CERT"},
        {"xfcc", CERTMAP_FWD_XFCC, "X-Forwarded-Client-Cert"},
        {"arr", CERTMAP_FWD_ARR, "X-ARR-ClientCert"},
    };
    static const char *const spellings[] = {"RFC9440", "Tomcat", "PEM", "XfCc",
                                            "aRR"};
    apr_size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        certmap_fwd_format_e f = CERTMAP_FWD_FORMAT_COUNT;

        ASSERT_OK(certmap_fwd_format_parse(test_pool, known[i].name, &f));
        ck_assert_int_eq(f, known[i].format);
        f = CERTMAP_FWD_FORMAT_COUNT;
        ASSERT_OK(certmap_fwd_format_parse(test_pool, spellings[i], &f));
        ck_assert_int_eq(f, known[i].format);
        ck_assert_str_eq(certmap_fwd_format_name(known[i].format),
                         known[i].name);
        ck_assert_str_eq(certmap_fwd_default_header(known[i].format),
                         known[i].header);
    }
    ck_assert_str_eq(certmap_fwd_format_name(CERTMAP_FWD_FORMAT_COUNT),
                     "unknown");
    ck_assert_ptr_null(certmap_fwd_default_header(CERTMAP_FWD_FORMAT_COUNT));
}
END_TEST

START_TEST(format_parse_errors)
{
    certmap_fwd_format_e f = CERTMAP_FWD_ARR;
    const char *err;

    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, "foo", &f));
    ck_assert_str_eq(err,
                     "unknown format 'foo'; use rfc9440, tomcat, pem, xfcc "
                     "or arr");
    ck_assert_int_eq(f, CERTMAP_FWD_ARR);
    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, "", &f));
    ck_assert_ptr_nonnull(strstr(err, "rfc9440, tomcat, pem, xfcc or arr"));
    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, NULL, &f));
    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, "rfc9440 ", &f));
    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, "rfc", &f));
    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, "pemx", &f));
    ASSERT_ERROR(err, certmap_fwd_format_parse(test_pool, "x\r\nfcc", &f));
    ck_assert_ptr_nonnull(strstr(err, "'x\\x0d\\x0afcc'"));
    /* A long word is cut in the message. */
    ASSERT_ERROR(err, certmap_fwd_format_parse(
                          test_pool, apr_psprintf(test_pool, "%0500d", 7), &f));
    ck_assert_uint_lt(strlen(err), 200);
    ck_assert_int_eq(f, CERTMAP_FWD_ARR);
}
END_TEST

Suite *make_forward_suite(void)
{
    Suite *s = suite_create("forward");
    TCase *fixed = tcase_create("fixed");
    TCase *formats = tcase_create("formats");
    TCase *errors = tcase_create("errors");
    TCase *pem = tcase_create("pem_to_der");
    TCase *names = tcase_create("names");

    tcase_add_checked_fixture(fixed, test_pool_setup, test_pool_teardown);
    tcase_add_test(fixed, fixed_rfc9440);
    tcase_add_test(fixed, fixed_tomcat_pem_arr);
    tcase_add_test(fixed, fixed_xfcc);
    suite_add_tcase(s, fixed);

    tcase_add_checked_fixture(formats, test_pool_setup, test_pool_teardown);
    tcase_add_test(formats, rfc9440_through_intermediate);
    tcase_add_test(formats, rfc9440_empty_chain_is_no_header);
    tcase_add_test(formats, tomcat_is_url_escaped_pem);
    tcase_add_test(formats, pem_survives_old_sslvalve);
    tcase_add_test(formats, arr_is_plain_base64);
    tcase_add_test(formats, any_length_encodes);
    tcase_add_test(formats, xfcc_through_intermediate);
    tcase_add_test(formats, xfcc_sans);
    tcase_add_test(formats, xfcc_subject_specials);
    tcase_add_test(formats, xfcc_subject_controls);
    tcase_add_test(formats, xfcc_subject_unconvertible);
    tcase_add_test(formats, xfcc_empty_subject_left_out);
    suite_add_tcase(s, formats);

    tcase_add_checked_fixture(errors, test_pool_setup, test_pool_teardown);
    tcase_add_test(errors, encode_errors);
    tcase_add_test(errors, encode_refuses_huge);
    suite_add_tcase(s, errors);

    tcase_add_checked_fixture(pem, test_pool_setup, test_pool_teardown);
    tcase_add_test(pem, pem_to_der_as_mod_ssl_gives_it);
    tcase_add_test(pem, pem_to_der_refuses);
    suite_add_tcase(s, pem);

    tcase_add_checked_fixture(names, test_pool_setup, test_pool_teardown);
    tcase_add_test(names, header_fold);
    tcase_add_test(names, scrub_family);
    tcase_add_test(names, format_names);
    tcase_add_test(names, format_parse_errors);
    suite_add_tcase(s, names);
    return s;
}
