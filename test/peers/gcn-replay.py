"""A GCN-shaped producer: replays notice files onto Kafka topics the way GCN's brokers
deliver them, authenticating as GCN clients do (SASL OAUTHBEARER with OIDC client
credentials: confluent-kafka/librdkafka's `sasl.oauthbearer.method=oidc`, the
configuration gcn-kafka builds for kafka.gcn.nasa.gov, here with a local token URL).

usage: gcn-replay.py BOOTSTRAP TOKEN_URL CLIENT_ID CLIENT_SECRET TOPIC=FILE...
With GCN_REPLAY_CA=FILE in the environment: over TLS (SASL_SSL, as kafka.gcn.nasa.gov), trusting that CA.
"""
import os
import sys

from confluent_kafka import Producer

bootstrap, token_url, client_id, client_secret = sys.argv[1:5]
producer = Producer({
    "bootstrap.servers": bootstrap,
    "security.protocol": "SASL_PLAINTEXT",
    "sasl.mechanisms": "OAUTHBEARER",
    "sasl.oauthbearer.method": "oidc",
    "sasl.oauthbearer.client.id": client_id,
    "sasl.oauthbearer.client.secret": client_secret,
    "sasl.oauthbearer.token.endpoint.url": token_url,
    "acks": "all",
    "message.max.bytes": 8 * 1024 * 1024,
    **({"security.protocol": "SASL_SSL", "ssl.ca.location": os.environ["GCN_REPLAY_CA"]} if os.environ.get("GCN_REPLAY_CA") else {}),
})
errors = []
for pair in sys.argv[5:]:
    topic, path = pair.split("=", 1)
    with open(path, "rb") as f:
        producer.produce(topic, f.read(), on_delivery=lambda err, msg: err and errors.append(str(err)))
producer.flush(60)
if errors:
    sys.exit("delivery failed: " + "; ".join(errors))
print(len(sys.argv) - 5)
