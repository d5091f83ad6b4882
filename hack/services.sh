#!/usr/bin/env bash
# Starts, stops or reports every local service the tests need: Kafka, the S3 server, moto and
# a Kubernetes control plane.
#
#   hack/services.sh up | down | status | fetch
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(kafka s3 moto kube)

case "${1:-}" in
  up)
    for s in "${SERVICES[@]}"; do "$HACK_DIR/$s.sh" start; done
    ;;
  down)
    for s in "${SERVICES[@]}"; do "$HACK_DIR/$s.sh" stop; done
    ;;
  status)
    rc=0
    for s in "${SERVICES[@]}"; do "$HACK_DIR/$s.sh" status || rc=1; done
    exit "$rc"
    ;;
  fetch)
    for s in "${SERVICES[@]}"; do "$HACK_DIR/$s.sh" fetch; done
    "$HACK_DIR/helm.sh" fetch
    ;;
  env)
    # For `eval "$(hack/services.sh env)"`: the variables the tests read.
    echo "export STOCKFEED_TEST_KAFKA=$SERVICE_HOST:$KAFKA_PORT"
    # The TLS listener and the CA that signed its certificate (made by hack/kafka.sh start).
    echo "export STOCKFEED_TEST_KAFKA_TLS=$SERVICE_HOST:$KAFKA_TLS_PORT"
    echo "export STOCKFEED_TEST_KAFKA_CA=$RUN_DIR/kafka/tls/ca.pem"
    echo "export STOCKFEED_TEST_S3=http://$SERVICE_HOST:$S3_PORT"
    echo "export STOCKFEED_TEST_MOTO=http://$SERVICE_HOST:$MOTO_PORT"
    echo "export STOCKFEED_S3_ACCESS_KEY=$S3_ACCESS_KEY"
    echo "export STOCKFEED_S3_SECRET_KEY=$S3_SECRET_KEY"
    "$HACK_DIR/kube.sh" env
    # STOCKFEED_HELM for the chart tests, once `hack/helm.sh fetch` has built it.
    "$HACK_DIR/helm.sh" env 2>/dev/null || echo "# helm not built yet: run hack/helm.sh fetch"
    ;;
  *) die "usage: hack/services.sh up|down|status|fetch|env" ;;
esac
