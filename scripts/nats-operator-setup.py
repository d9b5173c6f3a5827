#!/usr/bin/env python3
"""Makes a NATS operator, a system account, a JetStream account and a user of it, for tests of `.creds` logins.

NATS's decentralized authentication: every identity is an Ed25519 key pair written as an "nkey" (base32 of a prefix
byte, the key and a CRC-16), and every claim a JWT signed by its issuer's key ("alg": "ed25519-nkey"): the operator
signs the accounts, an account signs its users. The server trusts the operator and is handed the account JWTs
(`resolver: MEMORY`); a client proves it is the user with a `.creds` file: the user's JWT and seed.

  nats-operator-setup.py DIR
writes DIR/server.conf (include it, or pass it with -c: operator, resolver, accounts; no listen address or store),
DIR/user.creds (a user of the JetStream account) and DIR/forged.creds (the same user's JWT with another key's seed,
which the server must refuse).
"""
import base64
import binascii
import hashlib
import json
import os
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PREFIX_SEED = 18 << 3
PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}


def b32(data):
    return base64.b32encode(data).decode().rstrip("=")


def with_crc(raw):
    return raw + binascii.crc_hqx(raw, 0).to_bytes(2, "little")


class Key:
    def __init__(self, kind):
        self.kind = kind
        self.seed_bytes = os.urandom(32)
        self.private = Ed25519PrivateKey.from_private_bytes(self.seed_bytes)
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public = b32(with_crc(bytes([PREFIX[kind]]) + public))

    @property
    def seed(self):
        prefix = PREFIX[self.kind]
        head = bytes([PREFIX_SEED | (prefix >> 5), (prefix & 31) << 3])
        return b32(with_crc(head + self.seed_bytes))


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer, subject, name, nats):
    claims = {"iat": int(time.time()), "iss": issuer.public, "name": name, "sub": subject.public, "nats": nats}
    claims["jti"] = b32(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest())
    header = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64url(json.dumps(claims).encode())
    signature = issuer.private.sign(f"{header}.{body}".encode())
    return f"{header}.{body}.{b64url(signature)}"


def creds(user_jwt, seed):
    return (
        "-----BEGIN NATS USER JWT-----\n" + user_jwt + "\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n" + seed + "\n------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    operator, system, account, user = Key("operator"), Key("account"), Key("account"), Key("user")
    unlimited = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
                 "conn": -1, "leaf": -1}
    operator_jwt = jwt(operator, operator, "test-operator",
                       {"type": "operator", "version": 2, "system_account": system.public})
    system_jwt = jwt(operator, system, "SYS", {"type": "account", "version": 2, "limits": unlimited})
    jetstream = dict(unlimited, mem_storage=-1, disk_storage=-1, streams=-1, consumer=-1)
    account_jwt = jwt(operator, account, "audio", {"type": "account", "version": 2, "limits": jetstream})
    user_jwt = jwt(account, user, "audio-worker",
                   {"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1})
    with open(os.path.join(directory, "server.conf"), "w") as conf:
        conf.write(f"operator: {operator_jwt}\nsystem_account: {system.public}\nresolver: MEMORY\n"
                   f"resolver_preload: {{\n  {system.public}: {system_jwt}\n  {account.public}: {account_jwt}\n}}\n")
    for name, seed in (("user.creds", user.seed), ("forged.creds", Key("user").seed)):
        path = os.path.join(directory, name)
        with open(path, "w") as file:
            file.write(creds(user_jwt, seed))
        os.chmod(path, 0o600)


if __name__ == "__main__":
    main()
