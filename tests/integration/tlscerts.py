"""A throwaway PKI for the TLS tests, made with the openssl command line.

make_pki(dir) writes, all PEM:
  ca.pem / ca.key            the CA the tests trust
  server.pem / server.key    signed by it, for localhost and 127.0.0.1
  other.pem / other.key      signed by it, for qmgr.invalid only (a wrong host)
  client.pem / client.key    a client certificate signed by it
  rogue-ca.pem / rogue.pem / rogue.key   a second CA and a client
                             certificate of its own (not trusted)
"""

import os
import subprocess

OPENSSL = "openssl"


def _run(*args, cwd):
    subprocess.run([OPENSSL] + list(args), cwd=cwd, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _key(name, cwd):
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", name + ".key", cwd=cwd)


def _ca(name, cwd):
    _key(name, cwd)
    # What X.509 strict verification (Python 3.13's default) asks of a CA.
    _run("req", "-x509", "-new", "-key", name + ".key", "-out", name + ".pem", "-days", "2",
         "-subj", "/CN=%s" % name, "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd)


def _signed(name, ca, cn, cwd, alt_names=None, client=False):
    _key(name, cwd)
    _run("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % cn, cwd=cwd)
    ext = name + ".ext"
    with open(os.path.join(cwd, ext), "w") as f:
        if alt_names:
            f.write("subjectAltName=%s\n" % ",".join(alt_names))
        f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        f.write("keyUsage=critical,digitalSignature\n")
        f.write("authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    _run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
         "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", ext, cwd=cwd)


def make_pki(directory):
    """Writes the files above into directory; returns {name: path}."""
    os.makedirs(directory, exist_ok=True)
    _ca("ca", directory)
    _signed("server", "ca", "localhost", directory, ["DNS:localhost", "IP:127.0.0.1"])
    _signed("other", "ca", "qmgr.invalid", directory, ["DNS:qmgr.invalid"])
    _signed("client", "ca", "qmgr-test-client", directory, client=True)
    _ca("rogue-ca", directory)
    _signed("rogue", "rogue-ca", "rogue-client", directory, client=True)
    names = ("ca.pem", "server.pem", "server.key", "other.pem", "other.key", "client.pem",
             "client.key", "rogue-ca.pem", "rogue.pem", "rogue.key")
    return {n: os.path.join(directory, n) for n in names}
