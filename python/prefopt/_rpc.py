"""The gRPC services both sides use, bound by hand (only the message module
is generated), and go-plugin's AutoMTLS certificates."""

import base64
import datetime
import ssl

from ._proto import objective_pb2 as pb

OBJECTIVE = "prefopt.objective.v1.Objective"
# (method, request type, response type)
OBJECTIVE_METHODS = (
    ("GetSpec", pb.GetSpecRequest, pb.GetSpecResponse),
    ("Configure", pb.ConfigureRequest, pb.ConfigureResponse),
    ("Compute", pb.ComputeRequest, pb.ComputeResponse),
)
CONTROLLER_SHUTDOWN = "/plugin.GRPCController/Shutdown"  # go-plugin's controller; Empty → Empty
HEALTH = "grpc.health.v1.Health"
# HealthCheckResponse{status: SERVING}: field 1, varint 1 (grpc/health/v1/health.proto).
HEALTH_SERVING = b"\x08\x01"

MAX_MESSAGE_BYTES = 256 << 20  # as core/plugin: ~16 million log-probs per message
GRPC_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]


def new_certificate():
    """Returns (cert_pem, key_pem) of a one-time certificate made as
    go-plugin's AutoMTLS makes its own: self-signed ECDSA P-521 with
    SHA-512, CN and SAN "localhost", usable as its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=30))
            .not_valid_after(now + datetime.timedelta(hours=262980))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA512()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def pem_to_handshake(cert_pem):
    """Returns the handshake's certificate field: DER, base64 without padding."""
    der = ssl.PEM_cert_to_DER_cert(cert_pem.decode())
    return base64.b64encode(der).decode().rstrip("=")


def handshake_to_pem(field):
    """Inverse of pem_to_handshake."""
    der = base64.b64decode(field + "=" * (-len(field) % 4))
    return ssl.DER_cert_to_PEM_cert(der).encode()
