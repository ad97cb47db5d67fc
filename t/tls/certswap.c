/* certswap: one TLS connection, several HTTP/1.1 keep-alive requests, and
 * a different client certificate each time the server asks for one.
 *
 * Python's ssl module presents one certificate per connection; a test of
 * certificates that change inside a connection (TLS 1.2 renegotiation,
 * TLS 1.3 post-handshake authentication) needs a client that can answer
 * the server's second request for a certificate with another one.
 *
 * Usage:
 *   certswap -p PORT -A CAFILE [-t 1.2|1.3] [-H HOST] [-n SNI]
 *            [-c CERT,KEY | -c none]... PATH...
 *
 *   -p PORT    the server's port on HOST (default host 127.0.0.1)
 *   -A CAFILE  PEM file of the CA(s) the server certificate must chain to
 *   -t VER     allow only TLS 1.2 or only TLS 1.3
 *   -H HOST    address to connect to (default 127.0.0.1)
 *   -n SNI     server name sent, checked in the server certificate and
 *              used as the Host header (default localhost)
 *   -c ...     what to present at each successive certificate request of
 *              the server: a PEM certificate and its PEM key, or "none" to
 *              decline; after the last one, the last one is presented again
 *
 * Every PATH is sent as a GET request on the same connection, in order.
 * Output on stdout, one item per line:
 *   connected TLSv1.3 local-port 40000
 *   certificate-request 1 none|CERTFILE      (each time the server asks)
 *   request 1 /path
 *   local-port 40000
 *   status 200
 *   header Name: value                       (each response header)
 *   body 123                                 (byte count, then the bytes)
 *   end
 * Exit status: 0 when every request got a response, 1 for a usage error,
 * 2 when the connection or TLS failed (a sentence on stderr says why). */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define MAX_IDENTITIES 16
#define MAX_HEAD 65536
#define MAX_BODY (8 * 1024 * 1024)

typedef struct {
    const char *name; /* the certificate file, or "none" */
    X509 *cert;       /* NULL for "none" */
    EVP_PKEY *key;
} identity;

typedef struct {
    identity ids[MAX_IDENTITIES];
    int count;
    int asked; /* certificate requests answered so far */
} identities;

/* Bytes read from the connection and not consumed yet. */
typedef struct {
    SSL *ssl;
    char buf[16384];
    size_t start;
    size_t end;
} reader;

static void fail(const char *fmt, ...)
{
    va_list ap;
    unsigned long e;
    char text[256];

    fflush(stdout);
    fputs("certswap: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, text, sizeof(text));
        fprintf(stderr, "certswap:   OpenSSL says: %s\n", text);
    }
    exit(2);
}

static void usage(const char *why)
{
    fprintf(stderr,
            "certswap: %s\n"
            "usage: certswap -p PORT -A CAFILE [-t 1.2|1.3] [-H HOST] "
            "[-n SNI] [-c CERT,KEY | -c none]... PATH...\n",
            why);
    exit(1);
}

static void load_identity(identity *id, const char *arg)
{
    const char *comma = strchr(arg, ',');
    char *certfile;
    FILE *f;

    if (strcmp(arg, "none") == 0) {
        id->name = "none";
        return;
    }
    if (comma == NULL) {
        usage("-c wants CERT,KEY (two PEM files) or none.");
    }
    certfile = strndup(arg, comma - arg);
    if (certfile == NULL) {
        fail("Out of memory.");
    }
    id->name = certfile;
    if ((f = fopen(certfile, "r")) == NULL) {
        fail("Cannot open the certificate file %s: %s.", certfile,
             strerror(errno));
    }
    id->cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (id->cert == NULL) {
        fail("%s holds no PEM certificate.", certfile);
    }
    if ((f = fopen(comma + 1, "r")) == NULL) {
        fail("Cannot open the key file %s: %s.", comma + 1, strerror(errno));
    }
    id->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (id->key == NULL) {
        fail("%s holds no unencrypted PEM private key.", comma + 1);
    }
    if (X509_check_private_key(id->cert, id->key) != 1) {
        fail("The key in %s does not belong to the certificate in %s.",
             comma + 1, certfile);
    }
}

/* Called by OpenSSL each time the server asks for a client certificate
 * (in a handshake, a renegotiation or post-handshake): present the next
 * identity of the list. */
static int present_next(SSL *ssl, void *arg)
{
    identities *ids = arg;
    const identity *id;

    if (ids->count == 0) {
        return 1;
    }
    id = &ids->ids[ids->asked < ids->count ? ids->asked : ids->count - 1];
    ids->asked++;
    printf("certificate-request %d %s\n", ids->asked, id->name);
    SSL_certs_clear(ssl);
    if (id->cert == NULL) {
        return 1;
    }
    if (SSL_use_certificate(ssl, id->cert) != 1
        || SSL_use_PrivateKey(ssl, id->key) != 1) {
        fprintf(stderr, "certswap: cannot use the certificate %s.\n", id->name);
        return 0;
    }
    return 1;
}

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);

    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        fail("Cannot read the local address of the socket: %s.",
             strerror(errno));
    }
    return ntohs(a.sin_port);
}

static int tcp_connect(const char *host, int port)
{
    struct sockaddr_in a;
    int fd;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        usage("-H wants an IPv4 address such as 127.0.0.1.");
    }
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
        fail("Cannot make a socket: %s.", strerror(errno));
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fail("Cannot connect to %s port %d: %s.", host, port, strerror(errno));
    }
    return fd;
}

/* More bytes into the reader; 0 when the server closed the connection. */
static int fill(reader *rd)
{
    int n;

    if (rd->start > 0) {
        memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
        rd->end -= rd->start;
        rd->start = 0;
    }
    if (rd->end == sizeof(rd->buf)) {
        fail("A response line is longer than %zu bytes.", sizeof(rd->buf));
    }
    n = SSL_read(rd->ssl, rd->buf + rd->end, sizeof(rd->buf) - rd->end);
    if (n <= 0) {
        int err = SSL_get_error(rd->ssl, n);

        if (err == SSL_ERROR_ZERO_RETURN
            || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
            return 0;
        }
        fail("Reading the response failed (TLS error %d).", err);
    }
    rd->end += n;
    return 1;
}

/* One line without its CRLF, into `line` (NUL-terminated). */
static void read_line(reader *rd, char *line, size_t size, const char *what)
{
    for (;;) {
        char *nl = memchr(rd->buf + rd->start, '\n', rd->end - rd->start);

        if (nl != NULL) {
            size_t len = nl - (rd->buf + rd->start);

            if (len > 0 && nl[-1] == '\r') {
                len--;
            }
            if (len >= size) {
                fail("A line of %s is too long.", what);
            }
            memcpy(line, rd->buf + rd->start, len);
            line[len] = '\0';
            rd->start = nl + 1 - rd->buf;
            return;
        }
        if (!fill(rd)) {
            fail("The server closed the connection in the middle of %s.", what);
        }
    }
}

static void read_bytes(reader *rd, char *out, size_t n)
{
    while (n > 0) {
        size_t have = rd->end - rd->start;

        if (have == 0) {
            if (!fill(rd)) {
                fail("The server closed the connection in the middle of a "
                     "response body.");
            }
            continue;
        }
        if (have > n) {
            have = n;
        }
        memcpy(out, rd->buf + rd->start, have);
        rd->start += have;
        out += have;
        n -= have;
    }
}

static void write_all(SSL *ssl, const char *data, size_t len)
{
    while (len > 0) {
        int n = SSL_write(ssl, data, (int)len);

        if (n <= 0) {
            fail("Sending the request failed (TLS error %d).",
                 SSL_get_error(ssl, n));
        }
        data += n;
        len -= n;
    }
}

/* Reads one response and prints it; the body is read by Content-Length
 * or chunked transfer coding. */
static void read_response(reader *rd)
{
    char line[MAX_HEAD];
    char *body = malloc(MAX_BODY);
    size_t body_len = 0;
    long length = -1;
    int chunked = 0;
    int status;

    if (body == NULL) {
        fail("Out of memory.");
    }
    /* The status line; the server may instead close the connection. */
    while (rd->end == rd->start) {
        if (!fill(rd)) {
            fail("The server closed the connection instead of answering.");
        }
    }
    read_line(rd, line, sizeof(line), "the status line");
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1) {
        fail("The answer does not start with an HTTP/1.x status line: %.80s",
             line);
    }
    printf("status %d\n", status);
    for (;;) {
        read_line(rd, line, sizeof(line), "the response headers");
        if (line[0] == '\0') {
            break;
        }
        printf("header %s\n", line);
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            length = strtol(line + 15, NULL, 10);
        }
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0
                 && strstr(line + 18, "chunked") != NULL) {
            chunked = 1;
        }
    }
    if (chunked) {
        for (;;) {
            long size;

            read_line(rd, line, sizeof(line), "a chunk size");
            size = strtol(line, NULL, 16);
            if (size < 0 || (size_t)size > MAX_BODY - body_len) {
                fail("The response body is larger than %d bytes.", MAX_BODY);
            }
            if (size == 0) {
                do {
                    read_line(rd, line, sizeof(line), "the trailer");
                } while (line[0] != '\0');
                break;
            }
            read_bytes(rd, body + body_len, size);
            body_len += size;
            read_line(rd, line, sizeof(line), "a chunk end");
        }
    }
    else if (length >= 0) {
        if (length > MAX_BODY) {
            fail("The response body is larger than %d bytes.", MAX_BODY);
        }
        read_bytes(rd, body, length);
        body_len = length;
    }
    else if (status != 204 && status != 304) {
        fail("The response has neither Content-Length nor chunked coding; "
             "a keep-alive client cannot find its end.");
    }
    printf("body %zu\n", body_len);
    fwrite(body, 1, body_len, stdout);
    printf("\nend\n");
    fflush(stdout);
    free(body);
}

int main(int argc, char **argv)
{
    static identities ids;
    static reader rd;
    const char *host = "127.0.0.1", *sni = "localhost", *cafile = NULL;
    int port = 0, version = 0, fd, opt, i;
    SSL_CTX *ctx;
    SSL *ssl;

    while ((opt = getopt(argc, argv, "p:A:t:H:n:c:")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'A':
            cafile = optarg;
            break;
        case 't':
            if (strcmp(optarg, "1.2") == 0) {
                version = TLS1_2_VERSION;
            }
            else if (strcmp(optarg, "1.3") == 0) {
                version = TLS1_3_VERSION;
            }
            else {
                usage("-t wants 1.2 or 1.3.");
            }
            break;
        case 'H':
            host = optarg;
            break;
        case 'n':
            sni = optarg;
            break;
        case 'c':
            if (ids.count == MAX_IDENTITIES) {
                usage("Too many -c options.");
            }
            load_identity(&ids.ids[ids.count++], optarg);
            break;
        default:
            usage("Unknown option.");
        }
    }
    if (port <= 0 || port > 65535) {
        usage("-p PORT is required.");
    }
    if (cafile == NULL) {
        usage("-A CAFILE is required: the server certificate is verified.");
    }
    if (optind == argc) {
        usage("Give at least one PATH to request.");
    }

    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        fail("Cannot make a TLS context.");
    }
    SSL_CTX_set_min_proto_version(ctx, version ? version : TLS1_2_VERSION);
    if (version) {
        SSL_CTX_set_max_proto_version(ctx, version);
    }
    if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
        fail("Cannot load the CA file %s.", cafile);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* Also called on a renegotiation or post-handshake request. */
    SSL_CTX_set_cert_cb(ctx, present_next, &ids);

    fd = tcp_connect(host, port);
    if ((ssl = SSL_new(ctx)) == NULL) {
        fail("Cannot make a TLS connection object.");
    }
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, sni);
    SSL_set1_host(ssl, sni);
    /* Offer TLS 1.3 post-handshake authentication (per-directory
     * SSLVerifyClient in mod_ssl). */
    SSL_set_post_handshake_auth(ssl, 1);
    if (SSL_connect(ssl) != 1) {
        fail("The TLS handshake with %s port %d failed (verify result: %s).",
             host, port,
             X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    }
    printf("connected %s local-port %d\n", SSL_get_version(ssl),
           local_port(fd));

    rd.ssl = ssl;
    for (i = optind; i < argc; i++) {
        char req[4096];
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: %s\r\n"
                         "User-Agent: certswap\r\n\r\n",
                         argv[i], sni);

        if (n < 0 || (size_t)n >= sizeof(req)) {
            usage("A PATH is too long.");
        }
        printf("request %d %s\nlocal-port %d\n", i - optind + 1, argv[i],
               local_port(fd));
        fflush(stdout);
        write_all(ssl, req, n);
        read_response(&rd);
    }

    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
    for (i = 0; i < ids.count; i++) {
        X509_free(ids.ids[i].cert);
        EVP_PKEY_free(ids.ids[i].key);
    }
    return 0;
}
