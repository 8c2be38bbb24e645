#!/usr/bin/env bash
# Apache Kafka 4.1.1 (broker in KRaft mode + tools) from Maven Central into .voxnet/peers/kafka/lib,
# for the gateway tests and benchmarks (test/helpers/kafka.ts starts it on loopback).
# Idempotent: a second run finds the marker and does nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
KAFKA_VERSION=4.1.1
dest=.voxnet/peers/kafka
marker="$dest/.installed-$KAFKA_VERSION"
[ -e "$marker" ] && exit 0
command -v java >/dev/null || { echo "install-kafka: java (17+) is needed" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka: maven is needed (Debian package maven)" >&2; exit 1; }
mkdir -p "$dest"
cat > "$dest/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>voxnet.peers</groupId><artifactId>kafka</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
rm -rf "$dest/lib"
mvn -q -B -f "$dest/pom.xml" dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
ls "$dest/lib"/kafka_2.13-$KAFKA_VERSION.jar >/dev/null
touch "$marker"
echo "install-kafka: $(ls "$dest/lib" | wc -l) jars in $dest/lib"
