<%--
  certinfo.jsp - what Tomcat sees of the client, as one JSON object, for the
  mod_certmap integration tests (t/integration/test_tomcat.py) and the demo.

  Fields:
    cert_count     length of jakarta.servlet.request.X509Certificate (0: none)
    cert_sha256    lower-case hex SHA-256 of the first certificate's DER
    cert_subject   its subject, RFC 2253 (X500Principal.RFC2253)
    cert_issuer    its issuer, RFC 2253
    cert_error     set when the attribute holds something unexpected
    remote_user    request.getRemoteUser()
    principal      request.getUserPrincipal().getName()
    auth_type      request.getAuthType()
    secure         request.isSecure()
    scheme         request.getScheme()
    cipher_suite, key_size, ssl_session_id  the jakarta.servlet.request.*
                   attributes (set by AJP or by the SSLValve)
    connector_port request.getLocalPort() (which connector answered)
    headers        {lower-case name: [values in order]} as received
  The page is a plain text/JSON response; nothing here is trusted input
  except what the tests send.
--%><%@ page contentType="application/json; charset=UTF-8" session="false"
    import="java.security.MessageDigest,
            java.security.cert.X509Certificate,
            javax.security.auth.x500.X500Principal,
            java.util.Enumeration,
            java.util.HashSet"
%><%!
    /* JSON string literal: escapes quotes, backslashes and every control
     * character (an account such as W2K3TEST\certuser has a backslash). */
    private static String q(Object o)
    {
        if (o == null) {
            return "null";
        }
        String s = o.toString();
        StringBuilder b = new StringBuilder(s.length() + 2);
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            }
            else if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\u%04x", (int) c));
            }
            else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static String hex(byte[] d)
    {
        StringBuilder b = new StringBuilder(d.length * 2);
        for (byte x : d) {
            b.append(String.format("%02x", x & 0xff));
        }
        return b.toString();
    }
%><%
    StringBuilder j = new StringBuilder(1024);
    Object attr = request.getAttribute("jakarta.servlet.request.X509Certificate");
    String sha = null, subject = null, issuer = null, error = null;
    int count = 0;
    if (attr instanceof X509Certificate[]) {
        X509Certificate[] chain = (X509Certificate[]) attr;
        count = chain.length;
        if (count > 0 && chain[0] != null) {
            sha = hex(MessageDigest.getInstance("SHA-256")
                      .digest(chain[0].getEncoded()));
            subject = chain[0].getSubjectX500Principal()
                      .getName(X500Principal.RFC2253);
            issuer = chain[0].getIssuerX500Principal()
                     .getName(X500Principal.RFC2253);
        }
    }
    else if (attr != null) {
        error = "unexpected attribute type " + attr.getClass().getName();
    }
    j.append("{\"cert_count\": ").append(count);
    j.append(", \"cert_sha256\": ").append(q(sha));
    j.append(", \"cert_subject\": ").append(q(subject));
    j.append(", \"cert_issuer\": ").append(q(issuer));
    j.append(", \"cert_error\": ").append(q(error));
    j.append(", \"remote_user\": ").append(q(request.getRemoteUser()));
    j.append(", \"principal\": ").append(q(request.getUserPrincipal() == null
            ? null : request.getUserPrincipal().getName()));
    j.append(", \"auth_type\": ").append(q(request.getAuthType()));
    j.append(", \"secure\": ").append(request.isSecure());
    j.append(", \"scheme\": ").append(q(request.getScheme()));
    j.append(", \"cipher_suite\": ").append(q(
            request.getAttribute("jakarta.servlet.request.cipher_suite")));
    j.append(", \"key_size\": ").append(q(
            request.getAttribute("jakarta.servlet.request.key_size")));
    j.append(", \"ssl_session_id\": ").append(q(
            request.getAttribute("jakarta.servlet.request.ssl_session_id")));
    j.append(", \"connector_port\": ").append(request.getLocalPort());
    j.append(", \"headers\": {");
    boolean first = true;
    HashSet<String> seen = new HashSet<String>();
    for (Enumeration<String> names = request.getHeaderNames();
         names.hasMoreElements();) {
        String name = names.nextElement();
        if (!seen.add(name.toLowerCase())) {
            continue;   /* getHeaders() below already gave every value */
        }
        j.append(first ? "" : ", ").append(q(name.toLowerCase())).append(": [");
        first = false;
        boolean firstValue = true;
        for (Enumeration<String> vs = request.getHeaders(name);
             vs.hasMoreElements();) {
            j.append(firstValue ? "" : ", ").append(q(vs.nextElement()));
            firstValue = false;
        }
        j.append("]");
    }
    j.append("}}\n");
    out.write(j.toString());
%>
