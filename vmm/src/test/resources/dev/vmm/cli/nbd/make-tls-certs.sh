#!/bin/bash
# Makes throw-away X.509 credentials for the NBD TLS tests, in QEMU's tls-creds-x509 layout:
#   OUT/server   ca-cert.pem server-cert.pem server-key.pem (RSA key, PKCS#8)
#   OUT/client   ca-cert.pem client-cert.pem client-key.pem (EC key, SEC1 "EC PRIVATE KEY")
#   OUT/anon     ca-cert.pem only (a client without a certificate)
#   OUT/wrong-ca ca-cert.pem of another CA, with a client certificate of that CA
# Certificates name localhost and 127.0.0.1. Needs openssl.
set -euo pipefail
out=$1
mkdir -p "$out"/{work,server,client,anon,wrong-ca}
cd "$out/work"
ca() { # NAME
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1-key.pem" -out "$1-cert.pem" -days 3 -subj "/CN=$1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
sign() { # CSR CA OUT EXTFILE
  openssl x509 -req -in "$1" -CA "$2-cert.pem" -CAkey "$2-key.pem" -CAcreateserial -days 3 -out "$3" -extfile "$4" 2>/dev/null
}
ca test-ca
ca other-ca
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > client.ext
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server-key.pem 2>/dev/null
openssl req -new -key server-key.pem -subj /CN=localhost -out server.csr
sign server.csr test-ca server-cert.pem server.ext
openssl ecparam -name prime256v1 -genkey -noout -out client-key.pem
openssl req -new -key client-key.pem -subj /CN=vmm-test-client -out client.csr
sign client.csr test-ca client-cert.pem client.ext
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other-key.pem 2>/dev/null
openssl req -new -key other-key.pem -subj /CN=other-client -out other.csr
sign other.csr other-ca other-cert.pem client.ext
cp test-ca-cert.pem ../server/ca-cert.pem; cp server-cert.pem server-key.pem ../server/
cp test-ca-cert.pem ../client/ca-cert.pem; cp client-cert.pem client-key.pem ../client/
cp test-ca-cert.pem ../anon/ca-cert.pem
cp other-ca-cert.pem ../wrong-ca/ca-cert.pem; cp other-cert.pem ../wrong-ca/client-cert.pem; cp other-key.pem ../wrong-ca/client-key.pem
