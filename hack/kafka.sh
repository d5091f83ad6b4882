#!/usr/bin/env bash
# Apache Kafka 4.x, one node in KRaft mode (broker and controller in one JVM), on loopback.
#
#   hack/kafka.sh fetch    download the jars from Maven Central into the cache (once)
#   hack/kafka.sh start    format storage on first start, start, wait for a metadata request
#   hack/kafka.sh stop     stop the broker this script started
#   hack/kafka.sh status   exit 0 when our broker answers metadata requests
#   hack/kafka.sh count TOPIC   committed records in TOPIC (read_committed)
#   hack/kafka.sh count-committed TOPIC GROUP   those below GROUP's committed offsets
#   hack/kafka.sh topic NAME PARTITIONS   create a topic unless it exists (as a cluster's own
#                          tooling would, for feeds on TLS clusters whose topics the operator
#                          does not manage)
#
# Two client listeners: PLAINTEXT on $KAFKA_PORT and SSL on $KAFKA_TLS_PORT, whose server
# certificate (for $SERVICE_HOST) is signed by a CA made here, $RUN_DIR/kafka/tls/ca.pem.
#
# The jars (kafka_2.13, kafka-tools and their runtime dependencies) come from Maven Central
# through Maven, so no download outside a package registry is needed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${STOCKFEED_KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
STATE="$RUN_DIR/kafka"
LOG="$STATE/kafka.log"
MARKER="$STATE/server.properties"
BOOTSTRAP="$SERVICE_HOST:$KAFKA_PORT"

check_java() {
  command -v java >/dev/null || die "kafka: Java is missing; Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')"
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "kafka: Java $major found; Kafka $KAFKA_VERSION needs Java 17+"
}

fetch() {
  if [ -f "$KAFKA_HOME/.complete" ]; then
    return 0
  fi
  command -v mvn >/dev/null || die "kafka: Maven is missing; it fetches Kafka's jars (apt-get install maven)"
  say "kafka: fetching Apache Kafka $KAFKA_VERSION jars from Maven Central (first run only)"
  local tmp="$KAFKA_HOME.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -q -B -f "$HACK_DIR/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
    tail -n 15 "$tmp/mvn.log" >&2
    die "kafka: download of Kafka $KAFKA_VERSION jars failed (Maven Central unreachable or version not served); see above"
  fi
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
}

java_cp() {
  echo "$KAFKA_LIBS/*"
}

TLS_DIR="$STATE/tls"

# A throwaway CA and a server certificate for $SERVICE_HOST, made once per run directory.
# Kafka reads PEM directly (ssl.keystore.type=PEM): an unencrypted PKCS#8 key, then the chain.
make_tls() {
  [ -f "$TLS_DIR/keystore.pem" ] && [ "$(cat "$TLS_DIR/host" 2>/dev/null)" = "$SERVICE_HOST" ] && return 0
  command -v openssl >/dev/null || die "kafka: openssl is missing; it makes the TLS listener's certificate (apt-get install openssl)"
  rm -rf "$TLS_DIR"
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
      -subj "/CN=stockfeed test CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=$SERVICE_HOST" 2>/dev/null
    printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
      "$SERVICE_HOST" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt \
      -days 30 -extfile server.ext 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in server.key -out server.p8
    cat server.p8 server.crt >keystore.pem
    chmod 600 ca.key server.key server.p8 keystore.pem
  ) || die "kafka: making the TLS certificates in $TLS_DIR failed"
  echo "$SERVICE_HOST" >"$TLS_DIR/host"
}

write_config() {
  mkdir -p "$STATE/data"
  make_tls
  cat >"$STATE/server.properties" <<CONF
# Written by hack/kafka.sh; edits are lost on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$SERVICE_HOST:$KAFKA_PORT,SSL://$SERVICE_HOST:$KAFKA_TLS_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$SERVICE_HOST:$KAFKA_PORT,SSL://$SERVICE_HOST:$KAFKA_TLS_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
listener.name.ssl.ssl.keystore.type=PEM
listener.name.ssl.ssl.keystore.location=$TLS_DIR/keystore.pem
listener.name.ssl.ssl.client.auth=none
log.dirs=$STATE/data
# Code must create its topics (the operator does in production): auto-creation hides bugs.
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=6
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
CONF
  cat >"$STATE/log4j2.properties" <<CONF
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
CONF
  cat >"$STATE/client.properties" <<CONF
request.timeout.ms=3000
default.api.timeout.ms=5000
CONF
}

metadata_ok() {
  port_open "$KAFKA_PORT" || return 1
  java -cp "$(java_cp)" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
    --command-config "$STATE/client.properties" --list >/dev/null 2>&1
}

start() {
  if our_pid kafka "$MARKER" >/dev/null && metadata_ok; then
    say "kafka: already running at $BOOTSTRAP"
    return 0
  fi
  check_java
  fetch
  require_free_port kafka "$KAFKA_PORT" STOCKFEED_KAFKA_PORT
  require_free_port "kafka controller" "$KAFKA_CONTROLLER_PORT" STOCKFEED_KAFKA_CONTROLLER_PORT
  require_free_port "kafka TLS" "$KAFKA_TLS_PORT" STOCKFEED_KAFKA_TLS_PORT
  write_config
  if [ ! -f "$STATE/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(python3 -c 'import base64,uuid;print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')"
    say "kafka: formatting storage in $STATE/data (cluster $cluster_id)"
    java -Dlog4j2.configurationFile="$STATE/log4j2.properties" -cp "$(java_cp)" kafka.tools.StorageTool \
      format -t "$cluster_id" -c "$STATE/server.properties" >>"$LOG" 2>&1 \
      || fail_start kafka "$LOG" "formatting storage failed"
  fi
  start_bg kafka "$LOG" java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$STATE/log4j2.properties" -cp "$(java_cp)" kafka.Kafka "$MARKER"
  if ! wait_until 90 "kafka metadata" metadata_ok; then
    our_pid kafka "$MARKER" >/dev/null || fail_start kafka "$LOG" "broker exited during start-up"
    fail_start kafka "$LOG" "broker did not answer a metadata request at $BOOTSTRAP within 90s"
  fi
  say "kafka: ready at $BOOTSTRAP (Apache Kafka $KAFKA_VERSION, KRaft)"
}

status() {
  if our_pid kafka "$MARKER" >/dev/null && metadata_ok; then
    say "kafka: running at $BOOTSTRAP"
    return 0
  fi
  say "kafka: not running"
  return 1
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_ours kafka "$MARKER" 60 ;;
  status) status ;;
  classpath) fetch; java_cp ;;
  topic)
    [ $# = 3 ] || die "usage: hack/kafka.sh topic NAME PARTITIONS"
    java -cp "$(java_cp)" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
      --command-config "$STATE/client.properties" --create --if-not-exists --topic "$2" \
      --partitions "$3" --replication-factor 1 >/dev/null
    ;;
  count)
    # Committed records in a topic (transaction markers and aborted records are not counted):
    # what a read_committed consumer such as the sink sees.
    [ $# = 2 ] || die "usage: hack/kafka.sh count TOPIC"
    java -cp "$(java_cp)" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" \
      --consumer.config "$STATE/client.properties" --topic "$2" --from-beginning \
      --isolation-level read_committed --timeout-ms 15000 \
      --property print.offset=true --property print.value=false 2>/dev/null | grep -c '^Offset:' || true
    ;;
  count-committed)
    # Records of TOPIC below GROUP's committed offsets: what that group has finished with.
    [ $# = 3 ] || die "usage: hack/kafka.sh count-committed TOPIC GROUP"
    committed="$(java -cp "$(java_cp)" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "$BOOTSTRAP" --command-config "$STATE/client.properties" --describe --group "$3" 2>/dev/null \
      | awk -v t="$2" '$2 == t && $4 ~ /^[0-9]+$/ {printf "%s=%s ", $3, $4}')"
    java -cp "$(java_cp)" org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" \
      --consumer.config "$STATE/client.properties" --topic "$2" --from-beginning \
      --isolation-level read_committed --timeout-ms 15000 --property print.partition=true \
      --property print.offset=true --property print.value=false 2>/dev/null \
      | awk -v c="$committed" 'BEGIN { n = split(c, kv, " "); for (i = 1; i <= n; i++) { split(kv[i], x, "="); upto[x[1]] = x[2] } }
          /Partition:/ { split($0, f, /[:\t ]+/); p = f[2]; o = f[4]; if ((p in upto) && o + 0 < upto[p] + 0) k++ }
          END { print k + 0 }'
    ;;
  *) die "usage: hack/kafka.sh fetch|start|stop|status|classpath|topic NAME PARTITIONS|count TOPIC|count-committed TOPIC GROUP" ;;
esac
